"""Fixtures: a private database on the shared PostgreSQL server, superuser access to it,
and the environment the plugin reads (POSTGRES_*, from .run/devstack.env)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest

from devstack.testkit import require_env

from .pg_support import superuser


async def create_database(name: str, owner: str) -> None:
    conn = await superuser()
    try:
        await conn.execute(f'CREATE DATABASE "{name}" OWNER "{owner}"')
    finally:
        await conn.close()


async def drop_database(name: str) -> None:
    conn = await superuser()
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def test_database() -> Iterator[str]:
    """A database of this test run only, owned by the application role: the plugin
    creates its table there at startup, and counts are exact."""
    name = f"devstack_pgtest_{uuid.uuid4().hex[:10]}"
    asyncio.run(create_database(name, require_env("POSTGRES_USER")))
    yield name
    asyncio.run(drop_database(name))


@pytest.fixture
def app_name() -> str:
    """A unique application_name: the test finds the plugin's own backends by it."""
    return f"devstack-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def pg_env(test_database: str, app_name: str) -> dict[str, str | None]:
    """Settings for running_app: the shared server, the private database, no Vault."""
    return {
        "POSTGRES_HOST": require_env("POSTGRES_HOST"),
        "POSTGRES_PORT": require_env("POSTGRES_PORT"),
        "POSTGRES_USER": require_env("POSTGRES_USER"),
        "POSTGRES_PASSWORD": require_env("POSTGRES_PASSWORD"),
        "POSTGRES_DATABASE": test_database,
        "POSTGRES_APPLICATION_NAME": app_name,
        "POSTGRES_RETRY_MAX_WAIT": "1",
    }


@pytest.fixture
async def admin(test_database: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await superuser(test_database)
    yield conn
    await conn.close()
