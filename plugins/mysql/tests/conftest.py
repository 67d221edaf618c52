"""Fixtures: a private database on the shared MariaDB server, root access to it, and the
environment the plugin reads (MYSQL_*, from .run/devstack.env)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator

import aiomysql
import pytest

from devstack.testkit import require_env

from .my_support import root, sql

APP_HOSTS = ("127.0.0.1", "localhost")


async def create_database(name: str, user: str) -> None:
    conn = await root()
    try:
        await sql(conn, f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        for host in APP_HOSTS:
            await sql(conn, f"GRANT ALL PRIVILEGES ON `{name}`.* TO %s@%s", (user, host))
    finally:
        conn.close()


async def drop_database(name: str) -> None:
    conn = await root()
    try:
        await sql(conn, f"DROP DATABASE IF EXISTS `{name}`")
    finally:
        conn.close()


@pytest.fixture(scope="session")
def test_database() -> Iterator[str]:
    """A database of this test run only, granted to the application user: the plugin
    creates its table there at startup, counts are exact, and its sessions are found by it."""
    name = f"devstack_mytest_{uuid.uuid4().hex[:10]}"
    asyncio.run(create_database(name, require_env("MYSQL_USER")))
    yield name
    asyncio.run(drop_database(name))


@pytest.fixture
def my_env(test_database: str) -> dict[str, str | None]:
    """Settings for running_app: the shared server, the private database, no Vault."""
    return {
        "MYSQL_HOST": require_env("MYSQL_HOST"),
        "MYSQL_PORT": require_env("MYSQL_PORT"),
        "MYSQL_USER": require_env("MYSQL_USER"),
        "MYSQL_PASSWORD": require_env("MYSQL_PASSWORD"),
        "MYSQL_DATABASE": test_database,
        "MYSQL_RETRY_MAX_WAIT": "1",
    }


@pytest.fixture
async def admin(test_database: str) -> AsyncIterator[aiomysql.Connection]:
    conn = await root(database=test_database)
    yield conn
    conn.close()
