"""API payloads into AMQP messages, and taken AMQP messages into the JSON of an answer.

Both directions produce bytes up front. A publish body is encoded before the broker is
touched, so a body that cannot be encoded is the client's 422, never a backend failure.
Each consumed message is rendered before anything is acknowledged, and rendering never
fails: a body that cannot be shown as JSON is shown as its text or its base64.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aio_pika import DeliveryMode
from aiormq import spec
from aiormq.abc import DeliveredMessage

from devstack.api import invalid

BasicProperties = spec.Basic.Properties
PERSISTENT = int(DeliveryMode.PERSISTENT)

JSON_CONTENT_TYPE = "application/json"
# A consumed JSON body nested deeper than this comes back as text: deeper values come
# close to Python's recursion limit when the answer is encoded.
MAX_JSON_DEPTH = 256
NOT_JSON = object()


@dataclass(frozen=True)
class OutgoingMessage:
    """A message ready for ``basic_publish``: body bytes and AMQP properties."""

    body: bytes
    properties: BasicProperties


def encode_payload(payload: Any) -> bytes:
    """The JSON body of a message; 422 when the value cannot be encoded (nested too deep)."""
    try:
        return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    except (ValueError, TypeError, RecursionError):
        raise invalid(["body"], "Message body nests too deep to be encoded", "json_invalid") from None


def outgoing(body: bytes) -> OutgoingMessage:
    """A persistent JSON message with a fresh id and the current time (whole seconds, as AMQP has)."""
    return OutgoingMessage(
        body,
        BasicProperties(
            content_type=JSON_CONTENT_TYPE,
            content_encoding="utf-8",
            delivery_mode=PERSISTENT,
            message_id=uuid.uuid4().hex,
            timestamp=datetime.now(UTC).replace(microsecond=0),
        ),
    )


def render(value: Any) -> bytes:
    """Compact ASCII JSON (every string encodes, lone surrogates included)."""
    return json.dumps(value, separators=(",", ":")).encode("ascii")


def publish_answer(queue: str, body: bytes) -> bytes:
    """The publish answer around the body as published (no second encoding that could fail)."""
    return b'{"queue":' + render(queue) + b',"message":' + body + b',"action":"published"}\n'


def consume_answer(queue: str, messages: list[bytes]) -> bytes:
    """The consume answer around messages rendered by ``consumed_message``."""
    return b'{"queue":%s,"messages":[%s],"count":%d}\n' % (render(queue), b",".join(messages), len(messages))


def is_json_type(content_type: str | None) -> bool:
    """No content type, ``application/json`` or any ``+json`` type: try JSON first."""
    if not content_type:
        return True
    media = content_type.split(";", 1)[0].strip().lower()
    return media == JSON_CONTENT_TYPE or media.endswith("+json")


def nests_deeper(value: Any, limit: int) -> bool:
    """Whether arrays and objects nest more than ``limit`` levels (iteratively: no recursion)."""
    pending = [(value, 1)]
    while pending:
        node, depth = pending.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False


def parse_json(body: bytes) -> Any:
    """The parsed body, or ``NOT_JSON`` (not JSON, or nested deeper than ``MAX_JSON_DEPTH``)."""
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        return NOT_JSON
    # Each level takes a bracket: only a body with that many can nest that deep.
    if body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH and nests_deeper(value, MAX_JSON_DEPTH):
        return NOT_JSON
    return value


def as_text(body: bytes) -> tuple[str, str]:
    """``(payload, encoding)``: the UTF-8 text ("text"), else the base64 of the bytes ("base64")."""
    try:
        return body.decode("utf-8"), "text"
    except UnicodeDecodeError:
        return base64.b64encode(body).decode("ascii"), "base64"


def decode_body(body: bytes, content_type: str | None) -> tuple[Any, str]:
    """``(payload, encoding)``: parsed JSON ("json"), UTF-8 text ("text") or base64 ("base64")."""
    if is_json_type(content_type):
        value = parse_json(body)
        if value is not NOT_JSON:
            return value, "json"
    return as_text(body)


def iso_time(value: datetime | None) -> str | None:
    if not isinstance(value, datetime):
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat()


def text_property(value: object) -> str | None:
    return value if isinstance(value, str) else None


def consumed_message(message: DeliveredMessage) -> bytes:
    """The API's view of a taken message, as JSON; never raises, whatever the body."""
    properties = message.header.properties
    content_type = text_property(properties.content_type)
    described = {
        "content_type": content_type,
        "message_id": text_property(properties.message_id),
        "timestamp": iso_time(properties.timestamp),
        "redelivered": bool(message.redelivered),
    }
    payload, encoding = decode_body(message.body, content_type)
    try:
        return render({"payload": payload, "encoding": encoding, **described})
    except (ValueError, TypeError, RecursionError):
        payload, encoding = as_text(message.body)  # a string always encodes
        return render({"payload": payload, "encoding": encoding, **described})
