"""One pool per application: sized by the settings, reused by every request, closed at shutdown."""

from __future__ import annotations

import asyncio

import asyncpg

from devstack.testing import running_app
from devstack.testkit import wait_health

from .pg_support import backends

BASE = "/examples/database/postgres"


async def wait_backends(admin: asyncpg.Connection, app_name: str, count: int, timeout: float = 5.0) -> list:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = await backends(admin, app_name)
        if len(found) == count or asyncio.get_running_loop().time() > deadline:
            return found
        await asyncio.sleep(0.05)


async def test_pool_opens_min_size_connections_and_requests_reuse_them(pg_env, admin, app_name) -> None:
    async with running_app(env=pg_env) as (_app, client):
        await wait_health(client, "postgres")
        opened = await wait_backends(admin, app_name, 5)
        assert len(opened) == 5
        assert {row["usename"] for row in opened} == {pg_env["POSTGRES_USER"]}

        for index in range(30):
            paths = [f"{BASE}/query", BASE, "/health/postgres"]
            response = await client.get(paths[index % 3])
            assert response.status_code == 200
        assert await backends(admin, app_name) == opened

        burst = [client.get(f"{BASE}/query") for _ in range(40)]
        assert {r.status_code for r in await asyncio.gather(*burst)} == {200}
        after_burst = await backends(admin, app_name)
        assert 5 <= len(after_burst) <= 20
        burst = [client.get(f"{BASE}/query") for _ in range(40)]
        assert {r.status_code for r in await asyncio.gather(*burst)} == {200}
        # 80 concurrent requests were served by at most pool_max_size connections in all
        seen = {row["pid"] for row in await backends(admin, app_name)} | {row["pid"] for row in after_burst}
        assert len(seen) <= 20


async def test_pool_bounds_come_from_the_settings(pg_env, admin, app_name) -> None:
    env = {**pg_env, "POSTGRES_POOL_MIN_SIZE": "2", "POSTGRES_POOL_MAX_SIZE": "3"}
    async with running_app(env=env) as (_app, client):
        await wait_health(client, "postgres")
        assert len(await wait_backends(admin, app_name, 2)) == 2
        responses = await asyncio.gather(*(client.get(f"{BASE}/query") for _ in range(25)))
        assert {r.status_code for r in responses} == {200}
        assert 2 <= len(await backends(admin, app_name)) <= 3


async def test_shutdown_closes_the_pool(pg_env, admin, app_name) -> None:
    async with running_app(env=pg_env) as (_app, client):
        await wait_health(client, "postgres")
        assert len(await wait_backends(admin, app_name, 5)) == 5
    assert await wait_backends(admin, app_name, 0) == []


async def test_shutdown_while_the_pool_is_opening_is_bounded_and_leaves_no_connection(pg_env, admin, app_name) -> None:
    for _ in range(5):
        started = asyncio.get_running_loop().time()
        async with running_app(env=pg_env):
            pass
        assert asyncio.get_running_loop().time() - started < 10
    assert await wait_backends(admin, app_name, 0) == []
