"""Outages: an unreachable or silent server, a server down at startup, a restarted server.

Restarts use a private SecantusDB this test starts on a free port; the shared server on
27017 is never stopped.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from mongodb_support import PrivateSecantus, eventually

from devstack.testing import running_app
from devstack.testkit import Contract, free_port, wait_health

if TYPE_CHECKING:
    from quart.typing import TestClientProtocol

BASE = "/examples/database/mongodb"
DRIVER_WORDS = ("Errno", "refused", "ServerSelection", "AutoReconnect", "Timeout:", "pymongo", "Topology")


async def timed(client: TestClientProtocol, method: str, path: str, **kwargs: Any) -> tuple[int, dict[str, Any], float]:
    started = time.monotonic()
    response = await client.open(path, method=method, **kwargs)
    elapsed = time.monotonic() - started
    text = await response.get_data(as_text=True)
    for word in DRIVER_WORDS:
        assert word not in text, text
    return response.status_code, await response.get_json(), elapsed


async def assert_503(
    client: TestClientProtocol, method: str, path: str, within: float, **kwargs: Any
) -> dict[str, Any]:
    status, body, elapsed = await timed(client, method, path, **kwargs)
    assert status == 503, body
    assert body["error"] == "ServiceUnavailableError"
    assert body["details"]["service"] == "mongodb"
    assert elapsed < within, f"{method} {path} took {elapsed:.2f}s"
    (await Contract.of(client)).check(method, path, 503, body)
    return body


async def test_unreachable_server_answers_503_within_the_timeout(settings_env: dict[str, str | None]) -> None:
    env = {**settings_env, "MONGODB_PORT": str(free_port())}  # nothing listens there
    async with running_app(env=env) as (_app, client):
        assert (await client.get("/health/")).status_code == 200
        started = time.monotonic()
        health = await (await client.get("/health/mongodb")).get_json()
        assert health == {"status": "unhealthy", "error": "MongoDB connection failed"}
        assert time.monotonic() - started < 4.0  # server selection timeout (2 s), not the driver's 30 s
        assert (await client.get("/health/ready")).status_code == 503

        await assert_503(client, "GET", f"{BASE}/query", within=5.0)
        await assert_503(client, "POST", BASE, within=5.0, json={"key": "k", "value": 1})
        await assert_503(client, "GET", BASE, within=5.0)

        metrics = await (await client.get("/metrics")).get_data(as_text=True)
        assert 'mongodb_operations_total{operation="insert",result="unavailable"} 1.0' in metrics


@pytest.fixture
async def silent_server() -> AsyncIterator[int]:
    """A TCP server that accepts connections and never answers (a hung backend)."""
    held: list[asyncio.StreamWriter] = []

    async def accept(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield port
    for writer in held:
        writer.close()
    server.close()


async def test_silent_server_times_out_into_503(settings_env: dict[str, str | None], silent_server: int) -> None:
    env = {
        **settings_env,
        "MONGODB_PORT": str(silent_server),
        "MONGODB_TIMEOUT": "1.0",
        "MONGODB_SERVER_SELECTION_TIMEOUT": "30",
        "MONGODB_CONNECT_TIMEOUT": "30",
    }
    async with running_app(env=env) as (_app, client):
        await assert_503(client, "GET", BASE, within=2.5)
        await assert_503(client, "POST", BASE, within=2.5, json={"key": "k", "value": 1})
        started = time.monotonic()
        health = await (await client.get("/health/mongodb")).get_json()
        assert time.monotonic() - started < 2.5
        assert health["status"] == "unhealthy"
        assert health["error"] in ("MongoDB did not answer in time", "MongoDB connection failed")


async def test_server_down_at_startup_is_picked_up_when_it_comes(tmp_path: Path) -> None:
    server = PrivateSecantus(tmp_path)  # port chosen, not started yet
    try:
        async with running_app(env=server.env()) as (_app, client):
            assert (await client.get("/health/")).status_code == 200
            health = await (await client.get("/health/mongodb")).get_json()
            assert health["status"] == "unhealthy"
            await assert_503(client, "GET", BASE, within=5.0)

            await asyncio.to_thread(server.start)
            await wait_health(client, "mongodb", timeout=20.0)
            # the background set-up created the collection and its index meanwhile
            await eventually(lambda: "devstack_records" in server.collection_names())
            response = await client.post(BASE, json={"key": "late", "value": "server"})
            assert response.status_code == 201
    finally:
        server.kill()


async def test_restarted_server_is_recovered_without_restarting_devstack(private_secantus: PrivateSecantus) -> None:
    async with running_app(env=private_secantus.env()) as (_app, client):
        await wait_health(client, "mongodb", timeout=20.0)
        before = await client.post(BASE, json={"key": "before", "value": [1, 2]})
        assert before.status_code == 201
        first_id = (await before.get_json())["id"]

        await asyncio.to_thread(private_secantus.kill)
        health = await (await client.get("/health/mongodb")).get_json()
        assert health == {"status": "unhealthy", "error": "MongoDB connection failed"}
        await assert_503(client, "POST", BASE, within=5.0, json={"key": "during", "value": 0})
        await assert_503(client, "GET", BASE, within=5.0)

        await asyncio.to_thread(private_secantus.start)  # same port, same storage
        await wait_health(client, "mongodb", timeout=20.0)
        listed = await client.get(BASE)
        assert listed.status_code == 200
        survived = [item["id"] for item in (await listed.get_json())["items"]]
        # whether a write just before a SIGKILL survives is the server's durability, not ours
        assert survived in ([first_id], [])
        after = await client.post(BASE, json={"key": "after", "value": {"back": True}})
        assert after.status_code == 201
        after_id = (await after.get_json())["id"]
        query = await client.get(f"{BASE}/query")
        assert query.status_code == 200
        assert "devstack_records" in (await query.get_json())["collections"]
        listed_again = await (await client.get(BASE)).get_json()
        assert [item["id"] for item in listed_again["items"]] == [after_id, *survived]


async def test_one_bounded_pool_opened_at_startup_and_closed_at_shutdown(private_secantus: PrivateSecantus) -> None:
    baseline = (await asyncio.to_thread(private_secantus.connections))["current"]
    # the pool's bounds under their old names, which are still read (MONGODB_POOL_MIN_SIZE ...)
    env = {**private_secantus.env(), "MONGODB_MIN_POOL_SIZE": "2", "MONGODB_MAX_POOL_SIZE": "4"}
    async with running_app(env=env) as (_app, client):
        await wait_health(client, "mongodb", timeout=20.0)
        # the pool keeps its minimum open (plus the driver's monitoring connections)
        await eventually(lambda: private_secantus.connections()["current"] >= baseline + 2)
        created = (await asyncio.to_thread(private_secantus.connections))["totalCreated"]

        async def one(index: int) -> int:
            if index % 3 == 0:
                response = await client.post(BASE, json={"key": f"c{index}", "value": index})
            elif index % 3 == 1:
                response = await client.get(BASE)
            else:
                response = await client.get(f"{BASE}/query")
            return response.status_code

        for _ in range(3):
            statuses = await asyncio.gather(*(one(i) for i in range(30)))
            assert all(status in (200, 201) for status in statuses), statuses
        grown = (await asyncio.to_thread(private_secantus.connections))["totalCreated"] - created
        assert grown <= 4, f"{grown} connections opened for 90 requests (pool max 4)"
    # shutdown closed the pool and the monitors
    await eventually(lambda: private_secantus.connections()["current"] <= baseline)
