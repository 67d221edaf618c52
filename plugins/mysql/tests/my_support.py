"""Helpers of the mysql plugin's tests: real servers, a real Vault, the contract."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping
from typing import Any

import aiomysql
import hvac
import hvac.exceptions
import requests
from jsonschema import Draft202012Validator
from quart.testing import QuartClient

from devstack import hookimpl
from devstack.api import ServiceUnavailable


def require_env(name: str) -> str:
    """A connection setting from .run/devstack.env; its absence fails the test (never a skip)."""
    value = os.environ.get(name)
    assert value, f"{name} is not set: run scripts/services.sh up and source .run/devstack.env"
    return value


async def root(host: str | None = None, port: int | None = None, database: str | None = None) -> aiomysql.Connection:
    """MariaDB's root (empty password over TCP, as set up on these machines)."""
    return await aiomysql.connect(
        host=host or require_env("MYSQL_HOST"),
        port=port or int(require_env("MYSQL_PORT")),
        user="root",
        password="",
        db=database,
        autocommit=True,
        init_command="SET time_zone = '+00:00'",
    )


async def sql(conn: aiomysql.Connection, statement: str, args: Any = None) -> list[tuple[Any, ...]]:
    async with conn.cursor() as cursor:
        await cursor.execute(statement, args)
        return list(await cursor.fetchall())


async def sessions(admin: aiomysql.Connection, user: str, database: str) -> list[tuple[Any, ...]]:
    """``(id, user, db)`` of the server threads of ``user`` on ``database``: the plugin's pool."""
    return await sql(
        admin,
        "SELECT id, user, db FROM information_schema.processlist "
        "WHERE user = %s AND db = %s AND command <> 'Killed' ORDER BY id",
        (user, database),
    )


async def wait_sessions(admin: aiomysql.Connection, user: str, database: str, count: int, timeout: float = 5.0) -> list:
    deadline = time.monotonic() + timeout
    while True:
        found = await sessions(admin, user, database)
        if len(found) == count or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.05)


async def wait_health(client: QuartClient, status: str = "healthy", timeout: float = 15.0) -> dict[str, Any]:
    """Poll GET /health/mysql until it reports ``status`` (the pool opens in the background)."""
    deadline = time.monotonic() + timeout
    while True:
        response = await client.get("/health/mysql")
        assert response.status_code == 200
        body: dict[str, Any] = await response.get_json()
        if body["status"] == status or time.monotonic() > deadline:
            assert body["status"] == status, body
            return body
        await asyncio.sleep(0.1)


class Contract:
    """Checks answers against the application's own /openapi.json."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.document = document

    @classmethod
    async def of(cls, client: QuartClient) -> Contract:
        response = await client.get("/openapi.json")
        return cls(await response.get_json())

    def check(self, method: str, path: str, status: int, body: Any) -> None:
        responses = self.document["paths"][path][method.lower()]["responses"]
        assert str(status) in responses, f"{method} {path} does not document {status}"
        answer = responses[str(status)]
        if "$ref" in answer:
            answer = self.document["components"]["responses"][answer["$ref"].rsplit("/", 1)[1]]
        schema = answer["content"]["application/json"]["schema"]
        errors = [
            e.message
            for e in Draft202012Validator({**schema, "components": self.document["components"]}).iter_errors(body)
        ]
        assert not errors, f"{method} {path} {status}: {errors}"


class VaultSecrets:
    """A real secrets provider for tests: reads OpenBao/Vault KV v2 with hvac, in a thread.

    The plugin under test gets its credentials only through core's ``devstack_secrets``
    hook, exactly as it would from the vault plugin. ``prefix`` points it at a path where
    Vault has nothing (it then answers None).
    """

    def __init__(self, addr: str, token: str, prefix: str = "") -> None:
        self.addr = addr
        self.token = token
        self.prefix = prefix
        self.asked: list[str] = []
        self.answers: list[dict[str, str] | None] = []

    @hookimpl
    async def devstack_secrets(self, service: str, host: object) -> Mapping[str, str] | None:
        self.asked.append(service)
        answer = await asyncio.to_thread(self.read, self.prefix + service)
        self.answers.append(answer)
        return answer

    def read(self, path: str) -> dict[str, str] | None:
        client = hvac.Client(url=self.addr, token=self.token, timeout=3)
        try:
            found = client.secrets.kv.v2.read_secret_version(
                path=path, mount_point="secret", raise_on_deleted_version=True
            )
        except hvac.exceptions.InvalidPath:
            return None
        except (requests.RequestException, hvac.exceptions.VaultDown):
            raise ServiceUnavailable("vault") from None
        return {str(k): str(v) for k, v in found["data"]["data"].items()}


class PrivateMariadb:
    """A MariaDB server of this test run only (root without password), on its own port.

    Outage tests stop and start it; the shared server is never touched.
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.root = tempfile.mkdtemp(prefix="devstack-mariadb-")
        shutil.chown(self.root, "mysql", "mysql")
        self.data = os.path.join(self.root, "data")
        self.process: subprocess.Popen[bytes] | None = None
        subprocess.run(
            [
                "mariadb-install-db",
                "--user=mysql",
                f"--datadir={self.data}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )

    def start(self, timeout: float = 30.0) -> None:
        log = open(os.path.join(self.root, "log"), "ab")
        self.process = subprocess.Popen(
            [
                "runuser",
                "-u",
                "mysql",
                "--",
                "/usr/sbin/mariadbd",
                "--no-defaults",
                f"--datadir={self.data}",
                f"--port={self.port}",
                "--bind-address=127.0.0.1",
                f"--socket={self.root}/sock",
                f"--pid-file={self.root}/pid",
                "--skip-log-bin",
                "--innodb-buffer-pool-size=16M",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while subprocess.run(
            ["mariadb-admin", "--protocol=tcp", "-h", "127.0.0.1", "-P", str(self.port), "-u", "root", "ping"],
            capture_output=True,
        ).returncode:
            assert self.process.poll() is None, "private mariadbd exited"
            assert time.monotonic() < deadline, "private mariadbd did not start"
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
