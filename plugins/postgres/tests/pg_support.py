"""Helpers of the postgres plugin's tests: real servers, a real Vault, the contract."""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping
from typing import Any

import asyncpg
import hvac
import hvac.exceptions
import requests
from jsonschema import Draft202012Validator
from quart.testing import QuartClient

from devstack import hookimpl
from devstack.api import ServiceUnavailable

PG_BIN = os.path.dirname(sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))[-1])


def require_env(name: str) -> str:
    """A connection setting from .run/devstack.env; its absence fails the test (never a skip)."""
    value = os.environ.get(name)
    assert value, f"{name} is not set: run scripts/services.sh up and source .run/devstack.env"
    return value


async def superuser(database: str = "postgres") -> asyncpg.Connection:
    """The shared server's superuser (trust auth on 127.0.0.1, as set up on these machines)."""
    return await asyncpg.connect(
        host=require_env("POSTGRES_HOST"), port=int(require_env("POSTGRES_PORT")), user="postgres", database=database
    )


async def backends(admin: asyncpg.Connection, app_name: str) -> list[asyncpg.Record]:
    """The server processes serving the plugin's pool (found by application_name)."""
    return await admin.fetch(
        "SELECT pid, usename, datname, backend_start FROM pg_stat_activity WHERE application_name = $1 ORDER BY pid",
        app_name,
    )


async def wait_health(client: QuartClient, status: str = "healthy", timeout: float = 15.0) -> dict[str, Any]:
    """Poll GET /health/postgres until it reports ``status`` (the pool opens in the background)."""
    deadline = time.monotonic() + timeout
    while True:
        response = await client.get("/health/postgres")
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
        operation = self.document["paths"][path][method.lower()]
        assert str(status) in operation["responses"], f"{method} {path} does not document {status}"
        response = operation["responses"][str(status)]
        if "$ref" in response:
            response = self.document["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
        schema = response["content"]["application/json"]["schema"]
        validator = Draft202012Validator({**schema, "components": self.document["components"]})
        errors = [error.message for error in validator.iter_errors(body)]
        assert not errors, f"{method} {path} {status}: {errors}"


class VaultSecrets:
    """A real secrets provider for tests: reads OpenBao/Vault KV v2 with hvac, in a thread.

    The plugin under test gets its credentials only through core's ``devstack_secrets``
    hook, exactly as it would from the vault plugin.
    """

    def __init__(self, addr: str, token: str, mount: str = "secret") -> None:
        self.addr = addr
        self.token = token
        self.mount = mount
        self.prefix = ""
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
            answer = client.secrets.kv.v2.read_secret_version(
                path=path, mount_point=self.mount, raise_on_deleted_version=True
            )
        except hvac.exceptions.InvalidPath:
            return None
        except (requests.RequestException, hvac.exceptions.VaultDown):
            raise ServiceUnavailable("vault") from None
        return {str(k): str(v) for k, v in answer["data"]["data"].items()}


class PrivatePostgres:
    """A PostgreSQL server of this test run only (trust auth), on its own port.

    Outage tests stop and start it; the shared server is never touched.
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.root = tempfile.mkdtemp(prefix="devstack-pg-")
        shutil.chown(self.root, "postgres", "postgres")
        self.data = os.path.join(self.root, "data")
        self.run(f"{PG_BIN}/initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")

    def run(self, *command: str) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *command], check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c fsync=off"
        self.run(f"{PG_BIN}/pg_ctl", "-D", self.data, "-o", options, "-l", f"{self.root}/log", "-w", "start")

    def stop(self) -> None:
        self.run(f"{PG_BIN}/pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")

    def remove(self) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", f"{PG_BIN}/pg_ctl", "-D", self.data, "-m", "immediate", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(self.root, ignore_errors=True)
