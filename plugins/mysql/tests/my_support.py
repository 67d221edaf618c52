"""Helpers of the mysql plugin's tests: real servers, a real Vault, the contract."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import tempfile
import time
from typing import Any

import aiomysql

from devstack.testkit import require_env


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
