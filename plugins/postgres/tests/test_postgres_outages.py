"""Outages: killed connections, an unreachable server, a slow server, a restart.

The shared server is never stopped: connections are killed with pg_terminate_backend,
"down" is a port where nothing listens, and restarts use a private server of this run.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest

from devstack.testing import ServerProcess, free_port, running_app
from devstack.testkit import Contract, wait_health

from .pg_support import PrivatePostgres, backends

BASE = "/examples/database/postgres"
UNHEALTHY = {"status": "unhealthy", "error": "PostgreSQL connection failed"}


async def timed(call) -> tuple[float, object]:
    started = time.monotonic()
    response = await call
    return time.monotonic() - started, response


async def assert_503(client, method: str, path: str, within: float, **kwargs) -> dict:
    elapsed, response = await timed(client.open(path, method=method, **kwargs))
    body = await response.get_json()
    assert response.status_code == 503, body
    assert elapsed < within, f"{method} {path} took {elapsed:.2f}s"
    assert body["error"] == "ServiceUnavailableError"
    assert body["details"]["service"] == "postgres"
    assert "retry_suggestion" in body
    return body


async def wait_ok(client, path: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while (response := await client.get(path)).status_code != 200:
        assert response.status_code == 503
        assert time.monotonic() < deadline, "no recovery"
        await asyncio.sleep(0.2)


@pytest.fixture(scope="module")
def private_server() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres(free_port())
    yield server
    server.remove()


def private_env(pg_env: dict, server: PrivatePostgres) -> dict:
    return {
        **pg_env,
        "POSTGRES_PORT": str(server.port),
        "POSTGRES_USER": "postgres",
        "POSTGRES_PASSWORD": "",
        "POSTGRES_DATABASE": "postgres",
        "POSTGRES_TIMEOUT": "2",
    }


async def test_killed_connections_are_replaced_without_a_restart(pg_env, admin, app_name) -> None:
    async with running_app(env=pg_env) as (_app, client):
        await wait_health(client, "postgres")
        before = {row["pid"] for row in await backends(admin, app_name)}
        assert len(before) == 5
        killed = await admin.fetchval(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = $1) AS t",
            app_name,
        )
        assert killed == 5
        for _ in range(250):
            if not {row["pid"] for row in await backends(admin, app_name)} & before:
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError("the terminated backends did not end")

        for path in (f"{BASE}/query", BASE, "/health/postgres"):
            response = await client.get(path)
            assert response.status_code == 200, await response.get_json()
        response = await client.post(BASE, json={"key": "after-kill", "value": True})
        assert response.status_code == 201
        assert (await wait_health(client, "postgres"))["status"] == "healthy"
        after = {row["pid"] for row in await backends(admin, app_name)}
        assert after and not after & before


async def test_connections_killed_under_load_give_503_or_200_never_500(pg_env, admin, app_name) -> None:
    # the failures open the circuit breaker: a short reset lets the test see the recovery
    async with running_app(env=pg_env, breaker_reset_timeout=1.0) as (_app, client):
        await wait_health(client, "postgres")

        async def killer() -> None:
            for _ in range(5):
                await admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", app_name
                )
                await asyncio.sleep(0.01)

        calls = [client.get(f"{BASE}/query") for _ in range(30)] + [client.get(BASE) for _ in range(30)]
        results = await asyncio.gather(killer(), *calls)
        statuses = [response.status_code for response in results[1:]]
        assert set(statuses) <= {200, 503}, statuses
        for response in results[1:]:
            if response.status_code == 503:
                assert (await response.get_json())["details"]["service"] == "postgres"
        await wait_ok(client, f"{BASE}/query", timeout=10)


async def test_unreachable_server_answers_503_within_the_timeout(pg_env) -> None:
    env = {**pg_env, "POSTGRES_PORT": str(free_port()), "POSTGRES_TIMEOUT": "2"}
    started = time.monotonic()
    async with running_app(env=env) as (_app, client):
        assert time.monotonic() - started < 5, "startup waited for the database"
        contract = await Contract.of(client)
        body = await assert_503(client, "GET", f"{BASE}/query", within=2)
        contract.check("GET", f"{BASE}/query", 503, body)
        contract.check("GET", BASE, 503, await assert_503(client, "GET", BASE, within=2))
        body = await assert_503(client, "POST", BASE, within=2, json={"key": "k", "value": 1})
        contract.check("POST", BASE, 503, body)

        elapsed, response = await timed(client.get("/health/postgres"))
        assert elapsed < 3
        assert await response.get_json() == UNHEALTHY
        ready = await client.get("/health/ready")
        assert ready.status_code == 503
        assert "postgres" in (await ready.get_json())["failing"]
        plugins = await (await client.get("/plugins")).get_json()
        assert next(p for p in plugins["plugins"] if p["name"] == "postgres")["status"] == "loaded"

        metrics = await (await client.get("/metrics")).get_data(as_text=True)
        assert 'postgres_operations_total{operation="query",result="unavailable"}' in metrics


async def test_a_query_slower_than_the_timeout_answers_503_and_the_pool_recovers(pg_env, admin) -> None:
    env = {**pg_env, "POSTGRES_TIMEOUT": "1"}
    async with running_app(env=env) as (_app, client):
        await wait_health(client, "postgres")
        locker = admin
        transaction = locker.transaction()
        await transaction.start()
        try:
            await locker.execute("LOCK TABLE devstack_records IN ACCESS EXCLUSIVE MODE")
            body = await assert_503(client, "POST", BASE, within=2.5, json={"key": "slow", "value": 1})
            assert body["details"]["reason"] == "timeout"
            body = await assert_503(client, "GET", BASE, within=2.5)
            assert body["details"]["reason"] == "timeout"
        finally:
            await transaction.rollback()
        response = await client.post(BASE, json={"key": "fast-again", "value": 2})
        assert response.status_code == 201
        response = await client.get(BASE)
        assert response.status_code == 200
        metrics = await (await client.get("/metrics")).get_data(as_text=True)
        assert 'postgres_operations_total{operation="insert",result="timeout"} 1.0' in metrics


async def test_a_server_restart_is_survived(pg_env, private_server: PrivatePostgres) -> None:
    private_server.start()
    try:
        async with running_app(env=private_env(pg_env, private_server)) as (_app, client):
            await wait_health(client, "postgres")
            response = await client.post(BASE, json={"key": "before-restart", "value": 1})
            assert response.status_code == 201

            private_server.stop()
            await assert_503(client, "GET", f"{BASE}/query", within=2.5)
            assert await (await client.get("/health/postgres")).get_json() == UNHEALTHY

            private_server.start()
            await wait_health(client, "postgres")
            response = await client.get(f"{BASE}/query")
            assert response.status_code == 200
            response = await client.post(BASE, json={"key": "after-restart", "value": 2})
            assert response.status_code == 201
            items = (await (await client.get(BASE)).get_json())["items"]
            assert [item["key"] for item in items[:2]] == ["after-restart", "before-restart"]
    finally:
        private_server.stop()


async def test_a_server_down_at_startup_is_connected_once_it_comes_up(pg_env, private_server: PrivatePostgres) -> None:
    async with running_app(env=private_env(pg_env, private_server)) as (_app, client):
        await assert_503(client, "GET", f"{BASE}/query", within=2.5)
        assert await (await client.get("/health/postgres")).get_json() == UNHEALTHY
        await asyncio.sleep(1.5)
        private_server.start()
        try:
            await wait_health(client, "postgres", timeout=10)
            response = await client.get(f"{BASE}/query")
            assert response.status_code == 200
        finally:
            private_server.stop()


async def test_requests_abandoned_by_their_clients_do_not_open_the_breaker(pg_env, admin) -> None:
    """A real server: clients that give up mid-query cancel their handlers, which is no backend failure."""
    env = {k: v for k, v in pg_env.items() if v is not None}
    with ServerProcess(env={**env, "DEVSTACK_BREAKER_FAILURE_THRESHOLD": "3"}) as server:
        async with httpx.AsyncClient(base_url=server.url) as http:
            for _ in range(50):
                if (await http.get("/health/postgres")).json()["status"] == "healthy":
                    break
                await asyncio.sleep(0.1)
            transaction = admin.transaction()
            await transaction.start()
            try:
                await admin.execute("LOCK TABLE devstack_records IN ACCESS EXCLUSIVE MODE")
                for _ in range(6):  # more than the breaker's threshold
                    try:
                        answer = await http.get(BASE, timeout=0.3)
                    except httpx.ReadTimeout:
                        continue
                    raise AssertionError(f"answered {answer.status_code} while the table was locked: {answer.text}")
                await asyncio.sleep(0.2)
            finally:
                await transaction.rollback()
            response = await http.get(BASE)
            assert response.status_code == 200, response.json()
            assert response.json()["database"] == "PostgreSQL"
