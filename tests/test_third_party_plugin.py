"""An out-of-tree plugin, pip-installed beside devstack-core into a throwaway virtual
environment, is discovered with no change to the host; a plugin that fails to import is
isolated (host serves, plugin listed as failed) unless strict mode is on."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack.testing import free_port

from .conftest import REPO

FIXTURES = REPO / "tests" / "fixtures"


def uv() -> list[str]:
    candidates = [shutil.which("uv"), str(Path(sys.executable).parent / "uv"), str(REPO / ".venv" / "bin" / "uv")]
    for found in candidates:
        if found and Path(found).exists():
            return [found]
    return [sys.executable, "-m", "uv"]


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with devstack-core and the hello plugin, installed like a user would."""
    root = tmp_path_factory.mktemp("thirdparty") / "venv"
    subprocess.run([*uv(), "venv", "--quiet", "--python", sys.executable, str(root)], check=True)
    python = root / "bin" / "python"
    subprocess.run(
        [
            *uv(),
            "pip",
            "install",
            "--quiet",
            "--python",
            str(python),
            str(REPO / "core"),
            str(FIXTURES / "devstack-hello"),
        ],
        check=True,
        timeout=600,
    )
    return root


def run_cli(venv: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DEVSTACK_")}
    return subprocess.run(
        [str(venv / "bin" / "devstack"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**clean, **(env or {})},
        check=False,
    )


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return json.loads(answer.read())


class Served:
    def __init__(self, venv: Path, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        clean = {k: v for k, v in os.environ.items() if not k.startswith("DEVSTACK_")}
        self.process = subprocess.Popen(
            [str(venv / "bin" / "devstack"), "serve", "--port", str(self.port)],
            env={**clean, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited: {self.process.stdout.read() if self.process.stdout else ''}")
            try:
                get_json(f"http://127.0.0.1:{self.port}/health/")
                return
            except OSError:
                time.sleep(0.2)
        raise AssertionError("server not ready")

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(20)
        return self.process.stdout.read() if self.process.stdout else ""


@pytest.fixture
def served(venv: Path) -> Iterator[Served]:
    server = Served(venv)
    server.wait_ready()
    yield server
    server.stop()


def test_listed_by_the_cli(venv: Path) -> None:
    result = run_cli(venv, "plugins", "--json")
    assert result.returncode == 0, result.stderr
    plugins = {p["name"]: p for p in json.loads(result.stdout)["plugins"]}
    assert plugins["hello"]["status"] == "loaded"
    assert plugins["hello"]["distribution"] == "devstack-hello"
    assert plugins["hello"]["version"] == "0.3.0"
    table = run_cli(venv, "plugins")
    assert "devstack-hello" in table.stdout and "loaded" in table.stdout


def test_route_health_contract_and_listing(served: Served) -> None:
    base = f"http://127.0.0.1:{served.port}"
    assert get_json(f"{base}/hello/world?times=2") == {"greeting": "hello world hello world"}
    plugins = get_json(f"{base}/plugins")["plugins"]
    assert [p["name"] for p in plugins] == ["hello"]
    assert plugins[0]["routes"] == ["GET /health/hello", "GET /hello/{name}"]
    assert get_json(f"{base}/health/all")["services"] == {"hello": {"status": "healthy", "greeting": "ready"}}
    document = get_json(f"{base}/openapi.json")
    assert "/hello/{name}" in document["paths"]
    assert get_json(f"{base}/")["examples"] == {"hello": "/hello"}


def test_broken_plugin_is_isolated_and_strict_mode_fails(venv: Path) -> None:
    subprocess.run(
        [
            *uv(),
            "pip",
            "install",
            "--quiet",
            "--python",
            str(venv / "bin" / "python"),
            str(FIXTURES / "devstack-broken"),
        ],
        check=True,
        timeout=600,
    )
    try:
        server = Served(venv)
        server.wait_ready()
        base = f"http://127.0.0.1:{server.port}"
        plugins = {p["name"]: p for p in get_json(f"{base}/plugins")["plugins"]}
        assert plugins["broken"]["status"] == "failed"
        assert plugins["broken"]["error"] == "import failed: RuntimeError at devstack_broken/plugin.py:3"
        assert plugins["hello"]["status"] == "loaded"
        assert get_json(f"{base}/hello/ok")["greeting"] == "hello ok"
        log = server.stop()
        assert '"plugin": "broken"' in log and "devstack-broken" in log
        assert "broken on purpose" not in log

        strict = subprocess.run(
            [str(venv / "bin" / "devstack"), "serve", "--port", str(free_port())],
            env={**os.environ, "DEVSTACK_STRICT_PLUGINS": "1"},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert strict.returncode != 0
        assert "broken" in strict.stderr + strict.stdout
        assert "Traceback" not in strict.stderr + strict.stdout
    finally:
        subprocess.run(
            [*uv(), "pip", "uninstall", "--quiet", "--python", str(venv / "bin" / "python"), "devstack-broken"],
            check=True,
        )
