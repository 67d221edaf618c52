"""Turning AMQP messages into JSON-safe dicts, and API payloads into AMQP messages."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aio_pika import DeliveryMode
from aio_pika.abc import AbstractIncomingMessage
from aiormq import spec

BasicProperties = spec.Basic.Properties
PERSISTENT = int(DeliveryMode.PERSISTENT)

JSON_CONTENT_TYPE = "application/json"


@dataclass(frozen=True)
class OutgoingMessage:
    """A message ready for ``basic_publish``: body bytes and AMQP properties."""

    body: bytes
    properties: BasicProperties


def outgoing(payload: dict[str, Any]) -> OutgoingMessage:
    """A persistent JSON message with a fresh id and the current time (whole seconds, as AMQP has)."""
    return OutgoingMessage(
        json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode(),
        BasicProperties(
            content_type=JSON_CONTENT_TYPE,
            content_encoding="utf-8",
            delivery_mode=PERSISTENT,
            message_id=uuid.uuid4().hex,
            timestamp=datetime.now(UTC).replace(microsecond=0),
        ),
    )


def is_json_type(content_type: str | None) -> bool:
    """No content type, ``application/json`` or any ``+json`` type: try JSON first."""
    if not content_type:
        return True
    media = content_type.split(";", 1)[0].strip().lower()
    return media == JSON_CONTENT_TYPE or media.endswith("+json")


def decode_body(body: bytes, content_type: str | None) -> tuple[Any, str]:
    """``(payload, encoding)``: parsed JSON ("json"), UTF-8 text ("text") or base64 ("base64")."""
    if is_json_type(content_type):
        try:
            return json.loads(body), "json"
        except (ValueError, RecursionError):
            pass
    try:
        return body.decode("utf-8"), "text"
    except UnicodeDecodeError:
        return base64.b64encode(body).decode("ascii"), "base64"


def iso_time(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat()


def incoming(message: AbstractIncomingMessage) -> dict[str, Any]:
    """The API's view of a consumed message."""
    payload, encoding = decode_body(message.body, message.content_type)
    return {
        "payload": payload,
        "encoding": encoding,
        "content_type": message.content_type,
        "message_id": message.message_id,
        "timestamp": iso_time(message.timestamp),
        "redelivered": bool(message.redelivered),
    }
