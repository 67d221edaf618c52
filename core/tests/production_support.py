"""Helpers shared by the test_production_* modules (server processes, certificates)."""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"
PLUGIN_PATH = FIXTURES / "pluginpath"
EXEMPT = ("/health/live", "/health/ready", "/metrics")
# every behaviour of ``devstack serve`` is shown on both servers (the ``server_name`` fixture)
SERVERS = ("hypercorn", "granian")
# the logger of each server's "Running on ..." lines
RUNNING_LOGGER = {"hypercorn": "hypercorn.error", "granian": "devstack.server"}


def server_env(server: str = "hypercorn", **extra: str) -> dict[str, str]:
    """Environment of a ``devstack serve`` child on ``server``: only the test kit plugin,
    JSON logs at INFO."""
    path = os.pathsep.join(p for p in [str(PLUGIN_PATH), os.environ.get("PYTHONPATH", "")] if p)
    env = {
        "PYTHONPATH": path,
        "DEVSTACK_PLUGINS": "testkit",
        "DEVSTACK_LOG_LEVEL": "INFO",
        "DEVSTACK_RATE_LIMIT_ENABLED": "false",
        "DEVSTACK_SERVER": server,
    }
    env.update(extra)
    return env


def make_certificate(directory: Path, name: str, common_name: str) -> tuple[Path, Path]:
    """A self-signed EC certificate and its key, written with the openssl command."""
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            f"/CN={common_name}",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def get(
    port: int, path: str, headers: dict[str, str] | None = None, timeout: float = 10.0
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path, headers=headers or {})
        answer = connection.getresponse()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()
    finally:
        connection.close()


PYTHON = sys.executable


def production_response_gaps(contract: dict[str, Any], exempt: tuple[str, ...] = EXEMPT) -> list[str]:
    """Operations missing a response the production pipeline can give them: 429 on every
    operation, 401 unless the path is exempt from API keys, 413 and 415 on POST/PUT/PATCH."""
    gaps = []
    for path, item in contract.get("paths", {}).items():
        for method, operation in item.items():
            if method not in ("get", "post", "put", "patch", "delete", "head", "options"):
                continue
            needed = ["429"]
            if path not in exempt:
                needed.append("401")
            if method in ("post", "put", "patch"):
                needed += ["413", "415"]
            gaps += [f"{method.upper()} {path}: {code}" for code in needed if code not in operation["responses"]]
    return gaps
