"""A closed connection is recovered; a broker or management API that is down gives 503.

The shared broker is never stopped: a restart is simulated by the broker closing this
app's own connection (found by its client-provided connection name), once through the
management API and once with ``rabbitmqctl close_connection``. Both are what the app sees
when the broker goes away: the connection is closed from the broker's side.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from quart.testing import QuartClient
from rabbitmq_support import Management, TcpProxy, assert_envelope, unique

from devstack.testing import free_port, running_app
from devstack.testkit import Contract, wait_health

PUBLISH = "/examples/messaging/publish"


async def publish_until_ok(client: QuartClient, queue: str, message: dict[str, Any], timeout: float = 20.0) -> int:
    """Publish until 200 (a 503 while reconnecting is allowed, anything else is not)."""
    deadline = time.monotonic() + timeout
    attempts = 0
    while True:
        attempts += 1
        response = await client.post(PUBLISH, query_string={"queue_name": queue}, json=message)
        if response.status_code == 200:
            return attempts
        assert response.status_code == 503, await response.get_json()
        assert time.monotonic() < deadline, "publishing did not recover"
        await asyncio.sleep(0.25)


async def consumed_payloads(client: QuartClient, queue: str) -> list[Any]:
    """Every message of the queue, in order (consumed 100 at a time until empty)."""
    payloads: list[Any] = []
    while True:
        response = await client.post(f"/examples/messaging/consume/{queue}", query_string={"max": 100})
        assert response.status_code == 200
        body = await response.get_json()
        payloads += [message["payload"] for message in body["messages"]]
        if body["count"] < 100:
            return payloads


@pytest.fixture
async def client(rabbit_env: dict[str, str | None]) -> AsyncIterator[QuartClient]:
    """An app whose circuit breakers retry after 2 s (core's default is 60 s)."""
    async with running_app(env=rabbit_env, breaker_reset_timeout=2.0) as (_app, test_client):
        await wait_health(test_client, "rabbitmq", timeout=20)
        yield test_client


async def test_recovers_after_broker_closes_connection(
    client: QuartClient, management: Management, connection_name: str, queue_name: str
) -> None:
    await publish_until_ok(client, queue_name, {"before": True})
    first = await management.wait_connection(connection_name, exclude=set())

    await management.close_connection(first)

    second = await management.wait_connection(connection_name, exclude={first})
    assert second != first
    await wait_health(client, "rabbitmq", timeout=20)
    # The pool's channels were reopened by aio-pika: the first publish succeeds.
    assert await publish_until_ok(client, queue_name, {"after": True}) == 1
    assert await consumed_payloads(client, queue_name) == [{"before": True}, {"after": True}]


async def rabbitmqctl(*args: str) -> str:
    executable = shutil.which("rabbitmqctl")
    if executable is None:
        pytest.fail("rabbitmqctl is not installed (scripts/services.sh installs RabbitMQ)")
    process = await asyncio.create_subprocess_exec(
        executable, "-q", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, err.decode(errors="replace")
    return out.decode()


async def test_recovers_after_rabbitmqctl_close_connection(
    client: QuartClient, management: Management, connection_name: str, queue_name: str
) -> None:
    await publish_until_ok(client, queue_name, {"n": 1})
    first = await management.wait_connection(connection_name, exclude=set())
    listed = await rabbitmqctl("list_connections", "--no-table-headers", "pid", "name")
    [pid] = [line.split("\t")[0] for line in listed.splitlines() if line.split("\t")[1:] == [first]]

    await rabbitmqctl("close_connection", pid, "devstack rabbitmq plugin test")

    await management.wait_connection(connection_name, exclude={first})
    await wait_health(client, "rabbitmq", timeout=20)
    await publish_until_ok(client, queue_name, {"n": 2})
    assert await consumed_payloads(client, queue_name) == [{"n": 1}, {"n": 2}]


async def test_publishes_in_flight_during_close_never_500(
    rabbit_env: dict[str, str | None], management: Management, connection_name: str, queue_name: str
) -> None:
    pool_size = 8
    env = {**rabbit_env, "RABBITMQ_CHANNEL_POOL_SIZE": str(pool_size)}
    # A breaker that never opens, so that every answer shows what the plugin itself did.
    async with running_app(env=env, breaker_failure_threshold=10_000) as (_app, client):
        await wait_health(client, "rabbitmq", timeout=20)
        await publish_until_ok(client, queue_name, {"warm": True})
        first = await management.wait_connection(connection_name, exclude=set())

        async def one(number: int) -> int:
            await asyncio.sleep(number * 0.004)
            response = await client.post(PUBLISH, query_string={"queue_name": queue_name}, json={"n": number})
            return response.status_code

        burst = [asyncio.create_task(one(n)) for n in range(150)]
        await asyncio.sleep(0.1)
        await management.close_connection(first)
        statuses = await asyncio.gather(*burst)
        assert set(statuses) <= {200, 503}
        # Publishes that had not reached a channel waited for the reconnection instead of
        # failing; only those awaiting their confirm when the connection went (at most one
        # per pool channel) can fail.
        assert statuses.count(503) <= pool_size
        await management.wait_connection(connection_name, exclude={first})
        await wait_health(client, "rabbitmq", timeout=20)
        await publish_until_ok(client, queue_name, {"last": True})
        payloads = await consumed_payloads(client, queue_name)
    # Every 200 was confirmed by the broker, so it is in the queue.
    confirmed = {n for n, status in enumerate(statuses) if status == 200}
    assert confirmed <= {p["n"] for p in payloads if "n" in p}


async def test_survives_broker_going_away_and_coming_back(
    rabbit_env: dict[str, str | None], settings: dict[str, str], management: Management, queue_name: str
) -> None:
    """The app reaches the real broker through a relay; stopping the relay is, for the
    app, the broker going down (every connection dropped, new ones refused)."""
    proxy = TcpProxy(settings["RABBITMQ_HOST"], int(settings["RABBITMQ_PORT"]))
    await proxy.start()
    env = {**rabbit_env, "RABBITMQ_HOST": "127.0.0.1", "RABBITMQ_PORT": str(proxy.port)}
    try:
        async with running_app(env=env, breaker_reset_timeout=2.0) as (_app, client):
            await wait_health(client, "rabbitmq", timeout=20)
            await publish_until_ok(client, queue_name, {"before": True})

            await proxy.stop()
            deadline = time.monotonic() + 10
            while (await (await client.get("/health/rabbitmq")).get_json())["status"] != "unhealthy":
                assert time.monotonic() < deadline, "health did not notice the broker going away"
                await asyncio.sleep(0.1)
            started = time.monotonic()
            response = await client.post(PUBLISH, query_string={"queue_name": queue_name}, json={"down": True})
            assert response.status_code == 503
            assert time.monotonic() - started < 4.0  # RABBITMQ_RECONNECT_WAIT (2 s), not the 5 s timeout
            body = await response.get_json()
            assert_envelope(body, 503, "ServiceUnavailableError")
            assert body["details"]["service"] == "rabbitmq"
            info = await client.get(f"/examples/messaging/queue/{queue_name}/info")
            assert info.status_code == 503

            await proxy.start()  # the broker is back, on the same address
            await wait_health(client, "rabbitmq", timeout=30)
            await publish_until_ok(client, queue_name, {"after": True})
            assert await consumed_payloads(client, queue_name) == [{"before": True}, {"after": True}]
    finally:
        await proxy.stop()


async def test_broker_down_at_startup(settings: dict[str, str], caplog: pytest.LogCaptureFixture) -> None:
    closed = free_port()
    env = {**settings, "RABBITMQ_PORT": str(closed), "RABBITMQ_CONNECTION_NAME": unique("devstack-test-down")}
    caplog.set_level(logging.INFO)
    # Startup does not fail (strict mode would raise here if it did).
    async with running_app(env=env) as (_app, client):
        health = await (await client.get("/health/rabbitmq")).get_json()
        assert health == {"status": "unhealthy", "error": "RabbitMQ connection not established"}

        started = time.monotonic()
        response = await client.post(PUBLISH, query_string={"queue_name": unique("q")}, json={"a": 1})
        assert response.status_code == 503
        assert time.monotonic() - started < 6.0
        body = await response.get_json()
        assert_envelope(body, 503, "ServiceUnavailableError")
        assert body["details"]["service"] == "rabbitmq"
        assert body["retry_suggestion"]
        (await Contract.of(client)).check("POST", PUBLISH, 503, body)

        for method, path in (
            ("GET", f"/examples/messaging/queue/{unique('q')}/info"),
            ("POST", f"/examples/messaging/consume/{unique('q')}"),
        ):
            answer = await client.open(path, method=method)
            assert answer.status_code == 503
            assert (await answer.get_json())["details"]["service"] == "rabbitmq"

        ready = await client.get("/health/ready")
        assert ready.status_code == 503
        assert "rabbitmq" in (await ready.get_json())["failing"]
        await asyncio.sleep(1.5)  # let the background task retry at least once

    text = caplog.text + "".join(str(record.__dict__) for record in caplog.records)
    assert settings["RABBITMQ_PASSWORD"] not in text
    assert "Connect call failed" not in text and "Errno" not in text
    # each failed attempt is logged with its type only (by core's background opener)
    assert any(getattr(r, "error_type", None) for r in caplog.records if getattr(r, "service", None) == "rabbitmq")


async def test_wrong_password_is_refused_by_the_broker(
    settings: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "not-the-password-" + unique("x")
    env = {**settings, "RABBITMQ_PASSWORD": wrong, "RABBITMQ_CONNECTION_NAME": unique("devstack-test-wrong")}
    caplog.set_level(logging.INFO)
    async with running_app(env=env) as (_app, client):
        await asyncio.sleep(2.0)  # several attempts, each refused
        health = await (await client.get("/health/rabbitmq")).get_json()
        assert health["status"] == "unhealthy"
        response = await client.post(PUBLISH, query_string={"queue_name": unique("q")}, json={"a": 1})
        assert response.status_code == 503
    text = caplog.text + "".join(str(record.__dict__) for record in caplog.records)
    assert wrong not in text
    assert settings["RABBITMQ_PASSWORD"] not in text
    assert "ACCESS_REFUSED" not in text


async def test_management_api_unreachable_is_503(rabbit_env: dict[str, str | None]) -> None:
    env = {**rabbit_env, "RABBITMQ_MANAGEMENT_URL": f"http://127.0.0.1:{free_port()}"}
    async with running_app(env=env) as (_app, client):
        response = await client.get("/examples/messaging/queues")
        assert response.status_code == 503
        body = await response.get_json()
        assert_envelope(body, 503, "ServiceUnavailableError")
        assert body["details"]["service"] == "rabbitmq-management"
        (await Contract.of(client)).check("GET", "/examples/messaging/queues", 503, body)
        # AMQP itself is unaffected (a separate circuit breaker).
        await wait_health(client, "rabbitmq", timeout=20)


async def test_management_api_wrong_credentials_is_503(rabbit_env: dict[str, str | None]) -> None:
    env = {**rabbit_env, "RABBITMQ_MANAGEMENT_PASSWORD": "wrong-" + unique("x")}
    async with running_app(env=env) as (_app, client):
        response = await client.get("/examples/messaging/queues")
        assert response.status_code == 503
        body = await response.get_json()
        assert body["details"]["service"] == "rabbitmq-management"
        assert "wrong-" not in json.dumps(body)
