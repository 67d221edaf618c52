"""Helpers of the postgres plugin's tests: real servers, a real Vault, the contract."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile

import asyncpg

from devstack.testkit import require_env

PG_BIN = os.path.dirname(sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))[-1])


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
