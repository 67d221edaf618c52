"""Publish, queue info, consume and list against the real broker."""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any

import aio_pika
from quart.testing import QuartClient
from rabbitmq_support import Management, direct_connection, unique

from devstack.testkit import Contract

PUBLISH = "/examples/messaging/publish"
INFO = "/examples/messaging/queue/{queue_name}/info"
CONSUME = "/examples/messaging/consume/{queue_name}"
QUEUES = "/examples/messaging/queues"


async def publish(client: QuartClient, queue: str, message: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(PUBLISH, query_string={"queue_name": queue}, json=message)
    body = await response.get_json()
    assert response.status_code == 200, body
    return dict(body)


async def info(client: QuartClient, queue: str) -> dict[str, Any]:
    response = await client.get(f"/examples/messaging/queue/{queue}/info")
    body = await response.get_json()
    assert response.status_code == 200, body
    (await Contract.of(client)).check("GET", INFO, 200, body)
    return dict(body)


async def consume(client: QuartClient, queue: str, **query: int) -> dict[str, Any]:
    response = await client.post(f"/examples/messaging/consume/{queue}", query_string=query)
    body = await response.get_json()
    assert response.status_code == 200, body
    (await Contract.of(client)).check("POST", CONSUME, 200, body)
    return dict(body)


async def test_publish_count_consume_roundtrip(client: QuartClient, queue_name: str) -> None:
    message = {"order": 42, "items": ["a", "b"], "nested": {"ok": True, "price": 9.5}, "text": "héllo ✓"}
    body = await publish(client, queue_name, message)
    assert body == {"queue": queue_name, "message": message, "action": "published"}
    (await Contract.of(client)).check("POST", PUBLISH, 200, body)

    assert await info(client, queue_name) == {
        "queue": queue_name,
        "exists": True,
        "message_count": 1,
        "consumer_count": 0,
    }

    consumed = await consume(client, queue_name)
    assert consumed["queue"] == queue_name
    assert consumed["count"] == 1
    [received] = consumed["messages"]
    assert received["payload"] == message
    assert received["encoding"] == "json"
    assert received["content_type"] == "application/json"
    assert received["redelivered"] is False
    assert isinstance(received["message_id"], str) and len(received["message_id"]) == 32
    assert received["timestamp"].endswith("+00:00")

    # Acknowledged: the message is gone even though the consuming channel is closed.
    assert (await info(client, queue_name))["message_count"] == 0
    assert (await consume(client, queue_name))["count"] == 0


async def test_queue_is_durable_and_message_persistent(
    client: QuartClient, queue_name: str, settings: dict[str, str]
) -> None:
    await publish(client, queue_name, {"persist": 1})
    connection = await direct_connection(settings)
    try:
        channel = await connection.channel()
        # Declaring it durable again succeeds only if it is durable (else PRECONDITION_FAILED).
        queue = await channel.declare_queue(queue_name, durable=True, passive=False)
        message = await queue.get(no_ack=True, timeout=5)
        assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
        assert message.body == b'{"persist":1}'
    finally:
        await connection.close()


async def test_consume_takes_up_to_max_in_order(client: QuartClient, queue_name: str) -> None:
    for number in range(5):
        await publish(client, queue_name, {"n": number})
    first = await consume(client, queue_name, max=3)
    assert [m["payload"]["n"] for m in first["messages"]] == [0, 1, 2]
    assert first["count"] == 3
    rest = await consume(client, queue_name, max=100)
    assert [m["payload"]["n"] for m in rest["messages"]] == [3, 4]
    assert (await info(client, queue_name))["message_count"] == 0


async def test_consume_waits_for_a_first_message(client: QuartClient, queue_name: str) -> None:
    await publish(client, queue_name, {"warmup": True})
    await consume(client, queue_name)

    started = time.monotonic()
    empty = await consume(client, queue_name, wait_ms=400)
    waited = time.monotonic() - started
    assert empty == {"queue": queue_name, "messages": [], "count": 0}
    assert 0.35 <= waited < 3.0

    async def publish_later() -> None:
        await asyncio.sleep(0.3)
        await publish(client, queue_name, {"late": True})

    started = time.monotonic()
    _, got = await asyncio.gather(publish_later(), consume(client, queue_name, wait_ms=5000))
    assert [m["payload"] for m in got["messages"]] == [{"late": True}]
    assert time.monotonic() - started < 4.0


async def test_consume_without_wait_returns_at_once(client: QuartClient, queue_name: str) -> None:
    await publish(client, queue_name, {"x": 1})
    await consume(client, queue_name)
    started = time.monotonic()
    assert (await consume(client, queue_name))["count"] == 0
    assert time.monotonic() - started < 1.0


async def test_messages_from_other_publishers_are_not_json(
    client: QuartClient, queue_name: str, settings: dict[str, str]
) -> None:
    await publish(client, queue_name, {"first": 1})
    binary = bytes([0xFF, 0x00, 0xFE, 0x80])
    connection = await direct_connection(settings)
    try:
        channel = await connection.channel()
        exchange = channel.default_exchange
        await exchange.publish(aio_pika.Message(b"plain words", content_type="text/plain"), routing_key=queue_name)
        await exchange.publish(aio_pika.Message(binary), routing_key=queue_name)
        await exchange.publish(
            aio_pika.Message(b"{broken json", content_type="application/json"), routing_key=queue_name
        )
        await exchange.publish(aio_pika.Message(b"[1, 2]"), routing_key=queue_name)
    finally:
        await connection.close()

    got = (await consume(client, queue_name, max=10))["messages"]
    assert [(m["encoding"], m["payload"]) for m in got] == [
        ("json", {"first": 1}),
        ("text", "plain words"),
        ("base64", base64.b64encode(binary).decode()),
        ("text", "{broken json"),
        ("json", [1, 2]),
    ]
    assert got[1]["content_type"] == "text/plain"
    assert got[2]["content_type"] is None
    assert got[2]["timestamp"] is None


async def test_info_of_missing_queue(client: QuartClient) -> None:
    missing = unique("devstack-test-missing")
    assert await info(client, missing) == {
        "queue": missing,
        "exists": False,
        "message_count": None,
        "consumer_count": None,
    }
    # The failed passive declare did not break anything for the next calls.
    assert (await info(client, missing))["exists"] is False


async def test_consume_missing_queue_is_404(client: QuartClient) -> None:
    missing = unique("devstack-test-missing")
    response = await client.post(f"/examples/messaging/consume/{missing}")
    assert response.status_code == 404
    body = await response.get_json()
    assert body["error"] == "ResourceNotFoundError"
    assert body["status_code"] == 404
    (await Contract.of(client)).check("POST", CONSUME, 404, body)


async def test_publish_after_queue_deleted_redeclares(
    client: QuartClient, queue_name: str, management: Management
) -> None:
    await publish(client, queue_name, {"n": 1})
    await management.delete_queue(queue_name)
    assert (await info(client, queue_name))["exists"] is False
    # The plugin remembers the queue as declared; the broker returns the mandatory
    # message as unroutable, so the plugin declares it again and republishes.
    await publish(client, queue_name, {"n": 2})
    assert (await info(client, queue_name))["message_count"] == 1
    assert [m["payload"] for m in (await consume(client, queue_name, max=5))["messages"]] == [{"n": 2}]


async def test_non_durable_queue_of_same_name_is_409(
    client: QuartClient, queue_name: str, settings: dict[str, str]
) -> None:
    connection = await direct_connection(settings)
    try:
        channel = await connection.channel()
        await channel.declare_queue(queue_name, durable=False, auto_delete=False)
        response = await client.post(PUBLISH, query_string={"queue_name": queue_name}, json={"a": 1})
        assert response.status_code == 409
        body = await response.get_json()
        assert body["error"] == "ConflictError"
        (await Contract.of(client)).check("POST", PUBLISH, 409, body)
        # The pool's channels are unaffected: publishing elsewhere still works.
        other = unique("devstack-test-q")
        try:
            await publish(client, other, {"fine": True})
        finally:
            await channel.queue_delete(other)
        await channel.queue_delete(queue_name)
    finally:
        await connection.close()


async def test_queue_list_from_management_api(client: QuartClient, queue_name: str, settings: dict[str, str]) -> None:
    await publish(client, queue_name, {"listed": True})
    response = await client.get(QUEUES)
    body = await response.get_json()
    assert response.status_code == 200, body
    (await Contract.of(client)).check("GET", QUEUES, 200, body)
    assert body["vhost"] == settings["RABBITMQ_VHOST"]
    assert body["count"] == len(body["queues"])
    names = [entry["name"] for entry in body["queues"]]
    assert names == sorted(names)
    [mine] = [entry for entry in body["queues"] if entry["name"] == queue_name]
    assert mine["durable"] is True
    # Statistics lag the queue by the broker's collection interval (message and consumer
    # counts arrive separately), and the management plugin may serve a cached list for a
    # while when listing was slow: wait for both.
    deadline = time.monotonic() + 60
    while (mine["message_count"] != 1 or mine["consumer_count"] is None) and time.monotonic() < deadline:
        await asyncio.sleep(1.0)
        listed = await (await client.get(QUEUES)).get_json()
        [mine] = [entry for entry in listed["queues"] if entry["name"] == queue_name]
    assert mine["message_count"] == 1
    assert mine["consumer_count"] == 0


async def test_largest_accepted_message(client: QuartClient, queue_name: str) -> None:
    message = {"blob": "x" * (1024 * 1024 - 100)}
    await publish(client, queue_name, message)
    [received] = (await consume(client, queue_name))["messages"]
    assert received["payload"] == message


async def test_concurrent_publishes_all_confirmed(client: QuartClient, queue_name: str) -> None:
    await asyncio.gather(*(publish(client, queue_name, {"n": n}) for n in range(60)))
    assert (await info(client, queue_name))["message_count"] == 60
    got = (await consume(client, queue_name, max=100))["messages"]
    assert sorted(m["payload"]["n"] for m in got) == list(range(60))


async def test_health_body(client: QuartClient) -> None:
    response = await client.get("/health/rabbitmq")
    assert response.status_code == 200
    assert await response.get_json() == {"status": "healthy"}
    every = await (await client.get("/health/all")).get_json()
    assert every["services"]["rabbitmq"] == {"status": "healthy"}


async def test_root_info(client: QuartClient) -> None:
    root = await (await client.get("/")).get_json()
    assert root["examples"]["messaging"] == "/examples/messaging"
    assert "rabbitmq" in root["security"]["circuit_breakers"]["services"]


async def test_contract_lists_every_route(client: QuartClient) -> None:
    document = await (await client.get("/openapi.json")).get_json()
    assert document["paths"][PUBLISH]["post"]["x-max-body-bytes"] == 1048576
    for path in (INFO, QUEUES, "/health/rabbitmq"):
        assert "get" in document["paths"][path]
    assert set(document["paths"][CONSUME]) == {"post"}
    plugins = await (await client.get("/plugins")).get_json()
    [mine] = [plugin for plugin in plugins["plugins"] if plugin["name"] == "rabbitmq"]
    assert mine["status"] == "loaded"
    assert mine["health_checks"] == ["rabbitmq"]


async def test_metrics(client: QuartClient, queue_name: str) -> None:
    await publish(client, queue_name, {"m": 1})
    await publish(client, queue_name, {"m": 2})
    await consume(client, queue_name, max=2)
    text = await (await client.get("/metrics")).get_data(as_text=True)
    lines = text.splitlines()
    assert "rabbitmq_messages_published_total 2.0" in lines
    assert "rabbitmq_messages_consumed_total 2.0" in lines
    assert 'rabbitmq_operations_total{operation="publish",result="ok"} 2.0' in lines
    assert 'rabbitmq_operations_total{operation="consume",result="ok"} 1.0' in lines
    assert 'rabbitmq_operation_duration_seconds_count{operation="publish"} 2.0' in lines
