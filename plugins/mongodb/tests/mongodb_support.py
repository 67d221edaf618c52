"""Test helpers: a private SecantusDB, a real Vault secrets provider, contract checks.

Nothing here imitates a backend: the private server is the real SecantusDB binary and
the secrets provider reads the real OpenBao KV v2 engine over HTTP.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import hvac
import hvac.exceptions
import requests
from jsonschema import Draft202012Validator
from pymongo import MongoClient
from pymongo.errors import PyMongoError
from quart.typing import TestClientProtocol

from devstack import hookimpl
from devstack.api import Host, ServiceUnavailable

REPO = Path(__file__).resolve().parents[3]
SECANTUSD = os.environ.get("SECANTUSD_BIN", str(REPO / ".services-venv" / "bin" / "secantusd-py"))
REQUIRED_ENV = ("MONGODB_HOST", "MONGODB_PORT", "MONGODB_USER", "MONGODB_PASSWORD", "MONGODB_DATABASE")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class PrivateSecantus:
    """A SecantusDB of the test's own (standalone, no auth) on a free port.

    ``kill`` ends it with SIGKILL (every connection dies without a goodbye) and ``start``
    brings it back on the same port and storage. Never touches the shared server.
    """

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.storage = workdir / "data"
        self.config = workdir / "secantusd.toml"
        self.config.write_text("# empty: no other secantusd.toml is picked up\n")
        self.log_path = workdir / "secantusd.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._admin: MongoClient[dict[str, Any]] | None = None

    def start(self, timeout: float = 30.0) -> PrivateSecantus:
        if not Path(SECANTUSD).exists():
            raise RuntimeError(f"{SECANTUSD} is missing: run scripts/services.sh up")
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    SECANTUSD,
                    "--config",
                    str(self.config),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--storage-path",
                    str(self.storage),
                    "--standalone",
                    "--log-level",
                    "WARNING",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"secantusd exited with {self.process.returncode}: {self.log_path.read_text()}")
            try:
                with self.client(timeout_ms=500) as client:
                    client.admin.command("ping")
                return self
            except PyMongoError:
                time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"secantusd did not answer on port {self.port} within {timeout}s")

    def kill(self) -> None:
        if self._admin is not None:
            self._admin.close()
            self._admin = None
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        deadline = time.monotonic() + 10
        while port_open(self.port) and time.monotonic() < deadline:
            time.sleep(0.05)

    def client(self, timeout_ms: int = 3000) -> MongoClient[dict[str, Any]]:
        """A new direct client for the test's own checks (not the plugin's)."""
        return MongoClient(
            "127.0.0.1", self.port, serverSelectionTimeoutMS=timeout_ms, directConnection=True, maxPoolSize=1
        )

    @property
    def admin(self) -> MongoClient[dict[str, Any]]:
        """One long-lived direct client (its connections are opened once, so counts stay stable)."""
        if self._admin is None:
            self._admin = self.client()
            self._admin.admin.command("ping")
        return self._admin

    def connections(self) -> dict[str, int]:
        """serverStatus ``connections``: ``current`` and ``totalCreated``."""
        status = self.admin.admin.command("serverStatus")
        return {k: int(v) for k, v in status["connections"].items()}

    def collection_names(self, database: str = "devstack_test") -> list[str]:
        return self.admin[database].list_collection_names()

    def env(self, database: str = "devstack_test") -> dict[str, str | None]:
        """Plugin settings pointing at this server (no authentication)."""
        return {
            "MONGODB_HOST": "127.0.0.1",
            "MONGODB_PORT": str(self.port),
            "MONGODB_USER": "",
            "MONGODB_PASSWORD": "",
            "MONGODB_DATABASE": database,
            "MONGODB_AUTH_SOURCE": None,
        }


class VaultKvProvider:
    """A real secrets provider for tests: reads OpenBao KV v2 ``<mount>/<prefix><service>``.

    It implements ``devstack_secrets`` as the Vault plugin does (hvac in a thread) and
    counts its reads, so a test can see that credentials are not read per request.
    """

    def __init__(self, addr: str, token: str, mount: str = "secret", prefix: str = "") -> None:
        self.addr = addr
        self.token = token
        self.mount = mount
        self.prefix = prefix
        self.reads: list[str] = []

    @hookimpl
    async def devstack_secrets(self, service: str, host: Host) -> Mapping[str, str] | None:
        self.reads.append(service)
        try:
            return await asyncio.to_thread(self._read, f"{self.prefix}{service}")
        except hvac.exceptions.InvalidPath:
            return None
        except (hvac.exceptions.VaultError, requests.RequestException):
            raise ServiceUnavailable("vault") from None

    def _read(self, path: str) -> dict[str, str]:
        client = hvac.Client(url=self.addr, token=self.token, timeout=3)
        answer = client.secrets.kv.v2.read_secret_version(
            path=path, mount_point=self.mount, raise_on_deleted_version=True
        )
        return {str(k): str(v) for k, v in answer["data"]["data"].items()}


def resolve(node: Any, document: Mapping[str, Any]) -> Any:
    """Inline the document's local ``$ref``s."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            target: Any = document
            for part in ref[2:].split("/"):
                target = target[part]
            return resolve(target, document)
        return {k: resolve(v, document) for k, v in node.items()}
    if isinstance(node, list):
        return [resolve(v, document) for v in node]
    return node


async def assert_documented(
    client: TestClientProtocol,
    method: str,
    path: str,
    status: int,
    body: Any,
    contract: Mapping[str, Any] | None = None,
) -> None:
    """The answer's status is documented for the operation and the body matches its schema."""
    if contract is None:
        contract = await (await client.get("/openapi.json")).get_json()
    assert contract is not None
    operation = contract["paths"][path][method.lower()]
    assert str(status) in operation["responses"], f"{method} {path} does not document {status}"
    response = resolve(operation["responses"][str(status)], contract)
    schema = response["content"]["application/json"]["schema"]
    errors = sorted(Draft202012Validator(schema).iter_errors(body), key=str)
    assert not errors, [e.message for e in errors]


async def wait_healthy(client: TestClientProtocol, timeout: float = 20.0) -> dict[str, Any]:
    """Poll ``GET /health/mongodb`` until healthy; fail with the last body otherwise."""
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        body = await (await client.get("/health/mongodb")).get_json()
        if body["status"] == "healthy":
            return body
        await asyncio.sleep(0.1)
    raise AssertionError(f"MongoDB never became healthy: {body}")


def collection_exists(mongo: MongoClient[dict[str, Any]], database: str, name: str) -> bool:
    return name in mongo[database].list_collection_names()


async def eventually(check: Callable[[], bool], timeout: float = 10.0, interval: float = 0.1) -> None:
    """Wait (without blocking the event loop) until ``check()``, run in a thread, is true."""
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(check):
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(interval)
