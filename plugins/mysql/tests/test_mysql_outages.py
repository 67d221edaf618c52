"""Outages: killed connections, an unreachable server, a slow server, a restart.

The shared server is never stopped: connections are killed with KILL, "down" is a port
where nothing listens, and restarts use a private server of this run.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest

from devstack.testing import ServerProcess, free_port, running_app
from devstack.testkit import Contract, wait_health

from .my_support import PrivateMariadb, root, sessions, sql

BASE = "/examples/database/mysql"
UNHEALTHY = {"status": "unhealthy", "error": "MySQL connection failed"}


async def assert_503(client, method: str, path: str, within: float, **kwargs) -> dict:
    started = time.monotonic()
    response = await client.open(path, method=method, **kwargs)
    elapsed = time.monotonic() - started
    body = await response.get_json()
    assert response.status_code == 503, body
    assert elapsed < within, f"{method} {path} took {elapsed:.2f}s"
    assert body["error"] == "ServiceUnavailableError"
    assert body["details"]["service"] == "mysql"
    assert "retry_suggestion" in body
    return body


async def wait_ok(client, path: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while (response := await client.get(path)).status_code != 200:
        assert response.status_code == 503
        assert time.monotonic() < deadline, "no recovery"
        await asyncio.sleep(0.2)


async def kill_all(admin, user: str, database: str) -> set[int]:
    ids = {row[0] for row in await sessions(admin, user, database)}
    for thread_id in ids:
        try:
            await sql(admin, "KILL %s", (thread_id,))
        except Exception as exc:  # noqa: BLE001 - the thread may have ended already
            assert "Unknown thread" in str(exc)
    return ids


@pytest.fixture(scope="module")
def private_server() -> Iterator[PrivateMariadb]:
    server = PrivateMariadb(free_port())
    yield server
    server.remove()


def private_env(my_env: dict, server: PrivateMariadb) -> dict:
    return {
        **my_env,
        "MYSQL_PORT": str(server.port),
        "MYSQL_USER": "root",
        "MYSQL_PASSWORD": "",
        "MYSQL_DATABASE": "appdb",
        "MYSQL_TIMEOUT": "2",
    }


async def start_private(server: PrivateMariadb) -> None:
    await asyncio.to_thread(server.start)
    conn = await root(port=server.port)
    try:
        if not await sql(conn, "SHOW DATABASES LIKE 'appdb'"):
            await sql(conn, "CREATE DATABASE appdb")
    finally:
        conn.close()


async def test_killed_connections_are_replaced_without_a_restart(my_env, admin, test_database) -> None:
    user = my_env["MYSQL_USER"]
    async with running_app(env=my_env) as (_app, client):
        await wait_health(client, "mysql")
        before = await kill_all(admin, user, test_database)
        assert len(before) == 5
        for _ in range(250):
            if not {row[0] for row in await sessions(admin, user, test_database)} & before:
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError("the killed threads did not end")

        for path in (f"{BASE}/query", BASE, "/health/mysql"):
            response = await client.get(path)
            assert response.status_code == 200, await response.get_json()
        response = await client.post(BASE, json={"key": "after-kill", "value": True})
        assert response.status_code == 201
        after = {row[0] for row in await sessions(admin, user, test_database)}
        assert after and not after & before


async def test_connections_killed_under_load_give_503_or_200_never_500(my_env, admin, test_database) -> None:
    # the failures may open the circuit breaker: a short reset lets the test see the recovery
    async with running_app(env=my_env, breaker_reset_timeout=1.0) as (_app, client):
        await wait_health(client, "mysql")

        async def killer() -> None:
            for _ in range(5):
                await kill_all(admin, my_env["MYSQL_USER"], test_database)
                await asyncio.sleep(0.01)

        calls = [client.get(f"{BASE}/query") for _ in range(30)] + [client.get(BASE) for _ in range(30)]
        results = await asyncio.gather(killer(), *calls)
        statuses = [response.status_code for response in results[1:]]
        assert set(statuses) <= {200, 503}, statuses
        for response in results[1:]:
            if response.status_code == 503:
                assert (await response.get_json())["details"]["service"] == "mysql"
        await wait_ok(client, f"{BASE}/query", timeout=10)
        body = await (await client.get(BASE)).get_json()
        assert set(body) == {"database", "items", "count", "limit", "offset", "truncated"}


async def test_unreachable_server_answers_503_within_the_timeout(my_env) -> None:
    env = {**my_env, "MYSQL_PORT": str(free_port()), "MYSQL_TIMEOUT": "2"}
    started = time.monotonic()
    async with running_app(env=env) as (_app, client):
        assert time.monotonic() - started < 5, "startup waited for the database"
        contract = await Contract.of(client)
        contract.check("GET", f"{BASE}/query", 503, await assert_503(client, "GET", f"{BASE}/query", within=2))
        contract.check("GET", BASE, 503, await assert_503(client, "GET", BASE, within=2))
        body = await assert_503(client, "POST", BASE, within=2, json={"key": "k", "value": 1})
        contract.check("POST", BASE, 503, body)

        started = time.monotonic()
        health = await (await client.get("/health/mysql")).get_json()
        assert time.monotonic() - started < 3
        assert health == UNHEALTHY
        ready = await client.get("/health/ready")
        assert ready.status_code == 503
        assert "mysql" in (await ready.get_json())["failing"]
        plugins = await (await client.get("/plugins")).get_json()
        assert next(p for p in plugins["plugins"] if p["name"] == "mysql")["status"] == "loaded"
        metrics = await (await client.get("/metrics")).get_data(as_text=True)
        assert 'mysql_operations_total{operation="query",result="unavailable"}' in metrics


async def test_a_query_slower_than_the_timeout_answers_503_and_the_pool_recovers(my_env, test_database) -> None:
    env = {**my_env, "MYSQL_TIMEOUT": "1"}
    async with running_app(env=env) as (_app, client):
        await wait_health(client, "mysql")
        locker = await root(database=test_database)
        try:
            await sql(locker, "LOCK TABLES devstack_records WRITE")
            body = await assert_503(client, "POST", BASE, within=2.5, json={"key": "slow", "value": 1})
            assert body["details"]["reason"] == "timeout"
            body = await assert_503(client, "GET", BASE, within=2.5)
            assert body["details"]["reason"] == "timeout"
            await sql(locker, "UNLOCK TABLES")
        finally:
            locker.close()
        # the timed-out connections were closed, not reused with an answer still pending
        for index in range(10):
            response = await client.post(BASE, json={"key": f"fast-again-{index}", "value": index})
            assert response.status_code == 201
            assert (await response.get_json())["value"] == index
            query = await (await client.get(f"{BASE}/query")).get_json()
            assert query["query"] == "SELECT NOW()"
        items = (await (await client.get(f"{BASE}?limit=1")).get_json())["items"]
        assert items[0]["key"] == "fast-again-9"
        metrics = await (await client.get("/metrics")).get_data(as_text=True)
        assert 'mysql_operations_total{operation="insert",result="timeout"} 1.0' in metrics


async def test_a_server_restart_is_survived(my_env, private_server: PrivateMariadb) -> None:
    await start_private(private_server)
    try:
        async with running_app(env=private_env(my_env, private_server)) as (_app, client):
            await wait_health(client, "mysql")
            response = await client.post(BASE, json={"key": "before-restart", "value": 1})
            assert response.status_code == 201

            await asyncio.to_thread(private_server.stop)
            await assert_503(client, "GET", f"{BASE}/query", within=2.5)
            assert await (await client.get("/health/mysql")).get_json() == UNHEALTHY

            await start_private(private_server)
            await wait_health(client, "mysql")
            assert (await client.get(f"{BASE}/query")).status_code == 200
            response = await client.post(BASE, json={"key": "after-restart", "value": 2})
            assert response.status_code == 201
            items = (await (await client.get(BASE)).get_json())["items"]
            assert [item["key"] for item in items[:2]] == ["after-restart", "before-restart"]
    finally:
        await asyncio.to_thread(private_server.stop)


async def test_a_server_down_at_startup_is_connected_once_it_comes_up(my_env, private_server: PrivateMariadb) -> None:
    async with running_app(env=private_env(my_env, private_server)) as (_app, client):
        await assert_503(client, "GET", f"{BASE}/query", within=2.5)
        assert await (await client.get("/health/mysql")).get_json() == UNHEALTHY
        await asyncio.sleep(1.5)
        await start_private(private_server)
        try:
            await wait_health(client, "mysql", timeout=10)
            assert (await client.get(f"{BASE}/query")).status_code == 200
        finally:
            await asyncio.to_thread(private_server.stop)


async def test_requests_abandoned_by_their_clients_do_not_open_the_breaker(my_env, test_database) -> None:
    """A real server: clients that give up mid-query cancel their handlers, which is no backend failure."""
    env = {k: v for k, v in my_env.items() if v is not None}
    with ServerProcess(env={**env, "DEVSTACK_BREAKER_FAILURE_THRESHOLD": "3"}) as server:
        async with httpx.AsyncClient(base_url=server.url) as http:
            for _ in range(50):
                if (await http.get("/health/mysql")).json()["status"] == "healthy":
                    break
                await asyncio.sleep(0.1)
            locker = await root(database=test_database)
            try:
                await sql(locker, "LOCK TABLES devstack_records WRITE")
                for _ in range(6):  # more than the breaker's threshold
                    try:
                        answer = await http.get(BASE, timeout=0.3)
                    except httpx.ReadTimeout:
                        continue
                    raise AssertionError(f"answered {answer.status_code} while the table was locked: {answer.text}")
                await asyncio.sleep(0.2)
                await sql(locker, "UNLOCK TABLES")
            finally:
                locker.close()
            response = await http.get(BASE)
            assert response.status_code == 200, response.json()
            assert response.json()["database"] == "MySQL"
