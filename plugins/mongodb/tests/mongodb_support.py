"""Test helpers: a private SecantusDB (the real binary, nothing imitates a backend).

The rest (require_env, wait_health, Contract, VaultSecrets, eventually, free_port) is
core's test kit, ``devstack.testkit``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pymongo import MongoClient
from pymongo.errors import PyMongoError

from devstack.testkit import eventually as testkit_eventually
from devstack.testkit import free_port

REPO = Path(__file__).resolve().parents[3]
SECANTUSD = os.environ.get("SECANTUSD_BIN", str(REPO / ".services-venv" / "bin" / "secantusd-py"))
REQUIRED_ENV = ("MONGODB_HOST", "MONGODB_PORT", "MONGODB_USER", "MONGODB_PASSWORD", "MONGODB_DATABASE")


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


def collection_exists(mongo: MongoClient[dict[str, Any]], database: str, name: str) -> bool:
    return name in mongo[database].list_collection_names()


async def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    """``devstack.testkit.eventually`` with a blocking (pymongo) check, run in a thread."""
    await testkit_eventually(lambda: asyncio.to_thread(check), timeout=timeout)
