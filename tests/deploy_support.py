"""Helpers of tests/test_deploy.py: the rendered kustomize base, devstack built from its
ConfigMap, and the Dockerfile's instructions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from dockerfile_parse import DockerfileParser
from pydantic_settings import BaseSettings

from devstack.foundation.settings import CoreSettings
from devstack.runtime.app import create_app, state_of
from devstack.testing import environment

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "deploy"
BASE = DEPLOY / "kubernetes"
DOCKERFILE = DEPLOY / "Dockerfile"
SETTINGS_PREFIXES = ("DEVSTACK_", "VAULT_", "POSTGRES_", "MYSQL_", "MONGODB_", "REDIS_", "RABBITMQ_")

Manifest = dict[str, Any]


def tool(name: str) -> str:
    """A binary of this tox env (kubectl, hadolint): never another one on PATH."""
    path = Path(sys.executable).parent / name
    assert path.is_file(), f"{path} is missing: the contract tox env installs it (tox.ini)"
    return str(path)


def render(base: Path = BASE) -> list[Manifest]:
    """The base as kustomize renders it (``kubectl kustomize``)."""
    done = subprocess.run([tool("kubectl"), "kustomize", str(base)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"kubectl kustomize {base.relative_to(REPO)} failed: {done.stderr}"
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def one(rendered: list[Manifest], kind: str) -> dict[str, Any]:
    found = [doc for doc in rendered if doc["kind"] == kind]
    assert len(found) == 1, f"expected one {kind} in the render, found {len(found)}"
    return found[0]


def container(rendered: list[Manifest]) -> dict[str, Any]:
    containers = one(rendered, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["devstack"]
    return dict(containers[0])


def named_port(rendered: list[Manifest], port: int | str) -> int:
    """A probe's or Service's target port as a number (a name resolves to the container's)."""
    if isinstance(port, int):
        return port
    by_name = {p["name"]: p["containerPort"] for p in container(rendered)["ports"]}
    assert port in by_name, f"port {port!r} is not a port of the container ({sorted(by_name)})"
    return int(by_name[port])


class AppUnderConfig:
    """devstack as a pod built from the rendered ConfigMap would be: core's settings, each
    plugin's settings and health checks, read by the application's own code."""

    def __init__(self, config: dict[str, str]) -> None:
        cleared: dict[str, str | None] = {key: None for key in os.environ if key.startswith(SETTINGS_PREFIXES)}
        with environment({**cleared, **config}):
            self.core = CoreSettings()
            self.app = create_app(self.core)
            state = state_of(self.app)
            self.models: dict[str, type[BaseSettings]] = {"core": CoreSettings, **state.settings_models}
            self.plugins = {name: state.host.settings(model) for name, model in state.settings_models.items()}
            self.checks = dict(state.health.checks)
        self.routes = {rule.rule for rule in self.app.url_map.iter_rules()}

    def env_names(self) -> dict[str, tuple[type[BaseSettings], str]]:
        """Every setting's environment variable: its model and field name."""
        names = {}
        for model in self.models.values():
            prefix = str(model.model_config.get("env_prefix", ""))
            for field in model.model_fields:
                names[f"{prefix}{field}".upper()] = (model, field)
        return names


def is_credential(model: type[BaseSettings], field: str) -> bool:
    annotation = str(model.model_fields[field].annotation)
    return "SecretStr" in annotation or any(word in field for word in ("password", "token", "secret_id"))


def mebibytes(quantity: str) -> float:
    units = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024}
    return float(quantity[:-2]) * units[quantity[-2:]]


def millicores(quantity: str) -> float:
    return float(quantity[:-1]) if quantity.endswith("m") else float(quantity) * 1000


def stages() -> list[list[Manifest]]:
    """The Dockerfile's instructions, one list per stage."""
    result: list[list[Manifest]] = []
    for instruction in DockerfileParser(str(DOCKERFILE)).structure:
        if instruction["instruction"] == "FROM":
            result.append([])
        if result:
            result[-1].append(instruction)
    return result


def last(stage: list[Manifest], name: str) -> str:
    values = [i["value"] for i in stage if i["instruction"] == name]
    assert values, f"the final stage of {DOCKERFILE.name} has no {name}"
    return str(values[-1])


def image_user() -> str:
    return last(stages()[-1], "USER")


def healthcheck_command() -> list[str]:
    value = last(stages()[-1], "HEALTHCHECK")
    command: list[str] = json.loads(value.split("CMD", 1)[1])
    return command


def default_plugins() -> list[str]:
    args = [i["value"] for i in DockerfileParser(str(DOCKERFILE)).structure if i["instruction"] == "ARG"]
    value = next(a.split("=", 1)[1] for a in args if a.startswith("PLUGINS="))
    return value.strip('"').split()
