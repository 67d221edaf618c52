"""Code generated from the contract, as consumers make it: a client (openapi-python-client)
and pydantic models (datamodel-code-generator), each generated in a subprocess, and what
the tests need to find their parts again (the generators' own naming rules)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from openapi_python_client.strings import ClassName, PythonIdentifier

BIN = Path(sys.executable).parent
CLIENT_PACKAGE = "devstack_generated_client"
MODELS_MODULE = "devstack_generated_models"
CLIENT_CONFIG = f"package_name_override: {CLIENT_PACKAGE}\nproject_name_override: {CLIENT_PACKAGE}\npost_hooks: []\n"
CLIENT_COMMAND = ["openapi-python-client", "generate", "--meta", "none", "--fail-on-warning", "--overwrite"]
MODELS_COMMAND = [
    *("datamodel-codegen", "--input-file-type", "openapi", "--openapi-scopes", "schemas", "paths"),
    *("--output-model-type", "pydantic_v2.BaseModel", "--formatters", "builtin"),
    *("--target-python-version", "3.11", "--strict-refs", "--schema-version-mode", "strict"),
]


@dataclass
class Generated:
    """Both generators' output, imported, and what they printed."""

    client: ModuleType
    models: ModuleType
    client_output: str
    models_output: str
    endpoints: dict[tuple[str, str], ModuleType]  # (METHOD, path) -> the module that calls it

    def endpoint(self, method: str, path: str) -> ModuleType:
        return self.endpoints[(method, path)]


class Generation:
    """Both generators running at once on a contract file (started, not yet waited for)."""

    def __init__(self, document_file: Path, into: Path) -> None:
        self.into = into
        config = into / "client-config.yaml"
        config.write_text(CLIENT_CONFIG)
        client_command = [*CLIENT_COMMAND, "--path", str(document_file), "--config", str(config)]
        models_command = [*MODELS_COMMAND, "--input", str(document_file)]
        self.client_run = self.run(client_command, "--output-path", into / CLIENT_PACKAGE, stderr=subprocess.STDOUT)
        self.models_run = self.run(models_command, "--output", into / f"{MODELS_MODULE}.py", stderr=subprocess.PIPE)

    @staticmethod
    def run(command: list[str], output_option: str, output: Path, stderr: int) -> subprocess.Popen[str]:
        """One generator, from this environment's bin directory, writing to ``output``."""
        executable = str(BIN / command[0])
        return subprocess.Popen(
            [executable, *command[1:], output_option, str(output)], stdout=subprocess.PIPE, stderr=stderr, text=True
        )

    def finish(self, timeout: float = 120) -> Generated:
        """Wait for both, then import what they wrote."""
        client_output, _ = self.client_run.communicate(timeout=timeout)
        models_stdout, models_stderr = self.models_run.communicate(timeout=timeout)
        assert self.client_run.returncode == 0, f"openapi-python-client failed:\n{client_output}"
        assert self.models_run.returncode == 0, f"datamodel-codegen failed:\n{models_stdout}{models_stderr}"
        sys.path.insert(0, str(self.into))
        client = importlib.import_module(CLIENT_PACKAGE)
        models = importlib.import_module(MODELS_MODULE)
        return Generated(client, models, client_output, models_stderr, endpoint_modules(CLIENT_PACKAGE))

    def stop(self) -> None:
        for run in (self.client_run, self.models_run):
            if run.poll() is None:
                run.kill()
                run.wait()


def endpoint_modules(package: str) -> dict[tuple[str, str], ModuleType]:
    """Every generated endpoint module, by the method and path its request goes to (read
    from the request it builds, so that a module calling the wrong route shows)."""
    api = importlib.import_module(f"{package}.api")
    found: dict[tuple[str, str], ModuleType] = {}
    for info in pkgutil.walk_packages(api.__path__, f"{package}.api."):
        module = importlib.import_module(info.name)
        if not hasattr(module, "sync_detailed"):
            continue
        source = inspect.getsource(module._get_kwargs)
        method = re.search(r'"method": "(\w+)"', source)
        url = re.search(r'"url": "([^"]+)"', source)
        assert method and url, f"{info.name} builds no request"
        key = (method.group(1).upper(), url.group(1))
        assert key not in found, f"{key} is generated twice"
        found[key] = module
    return found


def client_classes(name: str, schema: Mapping[str, Any]) -> set[str]:
    """The classes openapi-python-client makes of a component schema: one per object or
    enum, one per object branch of a union (``NameType0``...)."""
    branches = schema.get("oneOf") or schema.get("anyOf")
    if branches:
        return {f"{ClassName(name, '')}Type{n}" for n, branch in enumerate(branches) if is_modelled(branch)}
    return {ClassName(name, "")} if is_modelled(schema) else set()


def is_modelled(schema: Mapping[str, Any]) -> bool:
    return schema.get("type") == "object" or "properties" in schema or "enum" in schema or "$ref" in schema


def inline_answer_class(operation_id: str, status: str) -> str:
    """openapi-python-client's class for an answer schema written inline."""
    return ClassName(f"{operation_id}_response_{status}", "")


def path_model(path: str, method: str) -> str:
    """datamodel-code-generator's model of an answer schema written inline in a path."""
    words = [word[:1].upper() + word[1:] for word in re.split(r"[^A-Za-z0-9]+", path) if word]
    return "".join(words) + method.capitalize() + "Response"


def python_name(signature: inspect.Signature, name: str) -> str:
    """The keyword a generated function takes for the contract's parameter ``name``."""
    candidate = str(PythonIdentifier(name, prefix=""))
    assert candidate in signature.parameters, f"the generated client takes no argument for {name!r}"
    return candidate


def shape(value: Any) -> Any:
    """Key sets at every depth (lists by their items' shapes): what a parse must keep."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(item) for item in value]
    return type(value).__name__ if isinstance(value, bool) or value is None else "leaf"
