"""Hostile bodies and poison messages: never a 5xx, never a breaker opened by a client,
never a message lost.

Publish bodies are sent as raw JSON text at every nesting depth around Python's
recursion limit (where core's parser still accepts a body that a second encoding cannot
handle). Poison messages are published straight to the broker with aio-pika, as another
application would: invalid UTF-8, text, empty, huge, nested far too deep. Every message
must come back in a consume answer or still be in the queue, counted by the broker.
"""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import aio_pika
import pytest
from devstack_rabbitmq import queues as queues_module
from devstack_rabbitmq.messages import MAX_JSON_DEPTH, consumed_message, encode_payload
from pamqp import encode as pamqp_encode
from quart import Quart, g
from quart.testing import QuartClient
from rabbitmq_support import Management, assert_envelope, direct_connection

from devstack.api import ValidatedRequest, ValidationFailed
from devstack.testing import host_of, running_app
from devstack.testkit import Contract, wait_health

PUBLISH = "/examples/messaging/publish"
CONSUME = "/examples/messaging/consume/{queue_name}"
# Around the recursion limit: core's parser takes these, a second encoding may not.
DEPTHS_NEAR_THE_LIMIT = range(900, 1001)


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def nested_value(depth: int) -> list[Any]:
    """A list nested ``depth`` deep, built without recursion."""
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


async def publish_raw(client: QuartClient, queue: str, body: bytes) -> tuple[int, bytes]:
    response = await client.post(
        PUBLISH, query_string={"queue_name": queue}, data=body, headers={"Content-Type": "application/json"}
    )
    return response.status_code, await response.get_data()


async def consume_all(client: QuartClient, queue: str, batch: int = 10) -> list[dict[str, Any]]:
    """Every message of the queue, ``batch`` at a time; every answer must be a 200."""
    messages: list[dict[str, Any]] = []
    while True:
        response = await client.post(f"/examples/messaging/consume/{queue}", query_string={"max": batch})
        raw = await response.get_data()
        assert response.status_code == 200, raw[:300]
        body = json.loads(raw)
        (await Contract.of(client)).check("POST", CONSUME, 200, body)
        messages += body["messages"]
        if body["count"] == 0:
            return messages


async def broker_count(settings: Mapping[str, str], queue: str) -> int:
    """Messages ready in the queue, as the broker counts them."""
    connection = await direct_connection(settings)
    try:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        return int(declared.declaration_result.message_count or 0)
    finally:
        await connection.close()


async def publish_direct(settings: Mapping[str, str], queue: str, messages: list[aio_pika.Message]) -> None:
    connection = await direct_connection(settings)
    try:
        channel = await connection.channel()
        await channel.declare_queue(queue, durable=True)
        for message in messages:
            await channel.default_exchange.publish(message, routing_key=queue)
    finally:
        await connection.close()


async def test_deep_publish_bodies_never_5xx_nor_open_the_breaker(
    app_client: tuple[Quart, QuartClient], queue_name: str
) -> None:
    app, client = app_client
    published = 0
    for _ in range(3):  # more failures in a row than the breaker's threshold, if they counted
        for depth in [*DEPTHS_NEAR_THE_LIMIT, 2000, 5000]:
            status, raw = await publish_raw(client, queue_name, b'{"a":' + nested(depth) + b"}")
            assert status in (200, 422), (depth, status, raw[:300])
            if status == 422:
                assert_envelope(json.loads(raw), 422, "ValidationError")
            else:
                published += 1
                assert raw.startswith(b'{"queue":') and raw.endswith(b'"action":"published"}\n')
    assert host_of(app).breaker_state("rabbitmq") == "closed"

    status, raw = await publish_raw(client, queue_name, b'{"after": true}')
    assert status == 200, raw
    taken = await consume_all(client, queue_name, batch=100)
    assert len(taken) == published + 1
    assert taken[-1]["payload"] == {"after": True}


async def test_a_body_the_encoder_refuses_is_a_422_outside_the_breaker(
    app_client: tuple[Quart, QuartClient], queue_name: str
) -> None:
    """The plugin's own path, whatever depth core's parser lets through: the publish
    handler with a parsed value that json.dumps cannot encode."""
    app, client = app_client
    handler = app.view_functions["rabbitmq.publish"]
    deep = {"a": nested_value(100_000)}
    for _ in range(20):
        async with app.test_request_context(PUBLISH, method="POST"):
            g.devstack_validated = ValidatedRequest(query={"queue_name": queue_name}, body=deep)
            with pytest.raises(ValidationFailed) as refused:
                await handler()
        assert refused.value.status_code == 422
    assert host_of(app).breaker_state("rabbitmq") == "closed"
    with pytest.raises(ValidationFailed):
        encode_payload(deep)

    status, raw = await publish_raw(client, queue_name, b'{"fine": 1}')
    assert status == 200, raw
    assert [m["payload"] for m in await consume_all(client, queue_name)] == [{"fine": 1}]


def poison_batch() -> tuple[list[aio_pika.Message], list[tuple[str, Any]]]:
    """Messages no devstack publish would make, and how each must come back."""
    binary = bytes([0xFF, 0xFE, 0x00, 0x80, 0xC3])
    deep_5000 = nested(5000)
    huge = b"\xfe" * (2 * 1024 * 1024)
    cases: list[tuple[bytes, str | None, tuple[str, Any]]] = [
        (binary, None, ("base64", base64.b64encode(binary).decode())),
        (binary, "application/json", ("base64", base64.b64encode(binary).decode())),
        (b"plain words", "text/plain", ("text", "plain words")),
        (b"not json {", "application/json", ("text", "not json {")),
        (deep_5000, "application/json", ("text", deep_5000.decode())),
        (b"", None, ("text", "")),
        (b'{"lone": "\\ud800"}', None, ("json", {"lone": "\ud800"})),
        (nested(MAX_JSON_DEPTH), "application/vnd.x+json", ("json", nested_value(MAX_JSON_DEPTH))),
        (nested(MAX_JSON_DEPTH + 1), None, ("text", nested(MAX_JSON_DEPTH + 1).decode())),
        (huge, "application/octet-stream", ("base64", base64.b64encode(huge).decode())),
        (b'{"ok": 1}', "application/json", ("json", {"ok": 1})),
    ]
    cases += [(nested(depth), None, ("text", nested(depth).decode())) for depth in DEPTHS_NEAR_THE_LIMIT]
    messages = [aio_pika.Message(body, content_type=content_type) for body, content_type, _ in cases]
    return messages, [expected for _, _, expected in cases]


async def test_poison_messages_are_delivered_never_lost(
    client: QuartClient, queue_name: str, settings: dict[str, str]
) -> None:
    messages, expected = poison_batch()
    await publish_direct(settings, queue_name, messages)
    assert await broker_count(settings, queue_name) == len(messages)

    taken = await consume_all(client, queue_name, batch=10)
    assert [(m["encoding"], m["payload"]) for m in taken] == expected
    assert await broker_count(settings, queue_name) == 0
    assert all(m["redelivered"] is False for m in taken)


RAW = "raw:"


def publish_raw_strings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let this test's publisher send short strings that are not UTF-8 ("raw:" + str with
    surrogate escapes) and an out-of-range timestamp (any in the year 2001), as clients
    in other languages can."""
    strict_string, strict_timestamp = pamqp_encode._string, pamqp_encode.METHODS["timestamp"]

    def raw_string(encoder: Any, value: Any) -> bytes:
        if isinstance(value, str) and value.startswith(RAW):
            data = value[len(RAW) :].encode("utf-8", "surrogateescape")
            return bytes(encoder.pack(len(data))) + data
        return bytes(strict_string(encoder, value))

    def raw_timestamp(value: Any) -> bytes:
        if isinstance(value, datetime) and value.year == 2001:
            return struct.pack(">Q", 2**64 - 1)
        return bytes(strict_timestamp(value))

    monkeypatch.setattr(pamqp_encode, "_string", raw_string)
    monkeypatch.setitem(pamqp_encode.METHODS, "timestamp", raw_timestamp)


async def test_undecodable_properties_neither_break_the_connection_nor_get_lost(
    app_client: tuple[Quart, QuartClient], queue_name: str, settings: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    app, client = app_client
    publish_raw_strings(monkeypatch)
    connection = await direct_connection(settings)
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(queue_name, durable=True)
        fanout = await channel.declare_exchange(f"{queue_name}.fanout", aio_pika.ExchangeType.FANOUT, auto_delete=True)
        await queue.bind(fanout)
        exchange = channel.default_exchange
        for message in (
            aio_pika.Message(b"1", message_id=RAW + "\udcff\udcfe"),
            aio_pika.Message(b"2", message_id="m2", content_type=RAW + "text/\udcff"),
            aio_pika.Message(b"3", message_id="m3", timestamp=datetime(2001, 1, 1)),
        ):
            await exchange.publish(message, routing_key=queue_name)
        await fanout.publish(aio_pika.Message(b"4", message_id="routed"), routing_key=RAW + "\udcff")
        await fanout.delete(if_unused=False)
    finally:
        await connection.close()
    monkeypatch.undo()

    taken = await consume_all(client, queue_name, batch=1)
    assert [(m["payload"], m["message_id"], m["content_type"], m["timestamp"]) for m in taken] == [
        (1, "\ufffd\ufffd", None, None),
        ("2", "m2", "text/\ufffd", None),
        (3, None, None, None),  # a timestamp out of range: no property can be read
        (4, "routed", None, None),
    ]
    assert await broker_count(settings, queue_name) == 0
    assert host_of(app).breaker_state("rabbitmq") == "closed"
    status, raw = await publish_raw(client, queue_name, b'{"still": "connected"}')
    assert status == 200, raw
    assert [m["payload"] for m in await consume_all(client, queue_name)] == [{"still": "connected"}]


async def test_a_failed_consume_requeues_everything_it_took(
    client: QuartClient, queue_name: str, settings: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    await publish_direct(settings, queue_name, [aio_pika.Message(b'{"n": %d}' % n) for n in range(5)])

    def fail_on_the_third(message: Any) -> bytes:
        if message.body == b'{"n": 2}':
            raise RuntimeError("simulated failure while building the answer")
        return consumed_message(message)

    monkeypatch.setattr(queues_module, "consumed_message", fail_on_the_third)
    response = await client.post(f"/examples/messaging/consume/{queue_name}", query_string={"max": 10})
    assert response.status_code == 503
    assert await broker_count(settings, queue_name) == 5
    monkeypatch.undo()

    taken = await consume_all(client, queue_name)
    assert [m["payload"] for m in taken] == [{"n": n} for n in range(5)]
    assert all(m["redelivered"] is True for m in taken)


async def test_consume_stops_at_the_byte_budget(
    rabbit_env: dict[str, str | None], settings: dict[str, str], queue_name: str
) -> None:
    kilobytes = [600, 600, 1500, 600]
    bodies = [b'"' + bytes([65 + n]) * (size * 1000) + b'"' for n, size in enumerate(kilobytes)]
    await publish_direct(settings, queue_name, [aio_pika.Message(body) for body in bodies])
    async with running_app(env={**rabbit_env, "RABBITMQ_CONSUME_MAX_BYTES": "1000000"}) as (_app, client):
        await wait_health(client, "rabbitmq", timeout=20)
        counts = []
        for _ in range(4):
            response = await client.post(f"/examples/messaging/consume/{queue_name}", query_string={"max": 10})
            assert response.status_code == 200
            counts.append((await response.get_json())["count"])
    # 600 KB then 600 KB reach the budget; a message over it on its own is still delivered.
    assert counts == [2, 1, 1, 0]


@pytest.mark.parametrize("method", ["GET", "HEAD"])
async def test_consume_is_post_only(
    client: QuartClient, queue_name: str, settings: dict[str, str], method: str
) -> None:
    await publish_direct(settings, queue_name, [aio_pika.Message(b'{"stay": true}')])
    response = await client.open(f"/examples/messaging/consume/{queue_name}", method=method)
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]
    if method == "GET":
        assert_envelope(await response.get_json(), 405, "MethodNotAllowedError")
    assert await broker_count(settings, queue_name) == 1


async def test_rabbitmq_metrics_do_not_grow_with_queue_names(
    client: QuartClient, queue_name: str, management: Management
) -> None:
    async def series() -> set[str]:
        text = await (await client.get("/metrics")).get_data(as_text=True)
        return {line.rsplit(" ", 1)[0] for line in text.splitlines() if line.startswith("rabbitmq_")}

    # every operation once, so that its series exist before the count
    await publish_raw(client, queue_name, b'{"n": 0}')
    await client.post(f"/examples/messaging/consume/{queue_name}")
    await client.get(f"/examples/messaging/queue/{queue_name}/info")
    before = await series()
    names = [f"{queue_name}-{n}" for n in range(10)]
    try:
        for name in names:
            assert (await publish_raw(client, name, b'{"n": 1}'))[0] == 200
            assert (await client.post(f"/examples/messaging/consume/{name}")).status_code == 200
            assert (await client.get(f"/examples/messaging/queue/{name}/info")).status_code == 200
        assert await series() == before
    finally:
        for name in names:
            await management.delete_queue(name)
