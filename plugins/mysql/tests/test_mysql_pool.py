"""One pool per application: sized by the settings, reused by every request, closed at shutdown."""

from __future__ import annotations

import asyncio

from devstack.testing import running_app
from devstack.testkit import wait_health

from .my_support import sessions, wait_sessions

BASE = "/examples/database/mysql"


async def test_pool_opens_min_size_connections_and_requests_reuse_them(my_env, admin, test_database) -> None:
    user = my_env["MYSQL_USER"]
    async with running_app(env=my_env) as (_app, client):
        await wait_health(client, "mysql")
        opened = await wait_sessions(admin, user, test_database, 5)
        assert len(opened) == 5

        for index in range(30):
            paths = [f"{BASE}/query", BASE, "/health/mysql"]
            response = await client.get(paths[index % 3])
            assert response.status_code == 200
        assert await sessions(admin, user, test_database) == opened

        burst = [client.get(f"{BASE}/query") for _ in range(40)]
        assert {r.status_code for r in await asyncio.gather(*burst)} == {200}
        after_burst = await sessions(admin, user, test_database)
        assert 5 <= len(after_burst) <= 20
        burst = [client.get(f"{BASE}/query") for _ in range(40)]
        assert {r.status_code for r in await asyncio.gather(*burst)} == {200}
        # 80 concurrent requests were served by at most pool_max_size connections in all
        assert len(set(await sessions(admin, user, test_database)) | set(after_burst)) <= 20


async def test_pool_bounds_come_from_the_settings(my_env, admin, test_database) -> None:
    env = {**my_env, "MYSQL_POOL_MIN_SIZE": "2", "MYSQL_POOL_MAX_SIZE": "3"}
    async with running_app(env=env) as (_app, client):
        await wait_health(client, "mysql")
        assert len(await wait_sessions(admin, my_env["MYSQL_USER"], test_database, 2)) == 2
        responses = await asyncio.gather(*(client.get(f"{BASE}/query") for _ in range(25)))
        assert {r.status_code for r in responses} == {200}
        assert 2 <= len(await sessions(admin, my_env["MYSQL_USER"], test_database)) <= 3


async def test_shutdown_closes_the_pool(my_env, admin, test_database) -> None:
    async with running_app(env=my_env) as (_app, client):
        await wait_health(client, "mysql")
        assert len(await wait_sessions(admin, my_env["MYSQL_USER"], test_database, 5)) == 5
    assert await wait_sessions(admin, my_env["MYSQL_USER"], test_database, 0) == []


async def test_shutdown_while_the_pool_is_opening_is_bounded_and_leaves_no_connection(
    my_env, admin, test_database
) -> None:
    for _ in range(5):
        started = asyncio.get_running_loop().time()
        async with running_app(env=my_env):
            pass
        assert asyncio.get_running_loop().time() - started < 10
    assert await wait_sessions(admin, my_env["MYSQL_USER"], test_database, 0) == []
