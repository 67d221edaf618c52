"""Stored records: how an API record becomes a MongoDB document and back.

The value is stored as its JSON text (field ``value_json``), never as a sub-document: a
value such as ``{"$where": "..."}`` or ``{"a.b": 1}`` stays inert data on every MongoDB
version (field names starting with ``$`` or holding ``.`` are refused or ambiguous in
some), and it comes back exactly as it was sent (key order, integers beyond 64 bits).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId

from devstack.api import Record, stored_json

Document = dict[str, Any]


def now() -> datetime:
    """The current UTC time at BSON's precision (milliseconds), so it reads back equal."""
    moment = datetime.now(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def as_record(record_id: object, key: str, value: Any, created_at: datetime) -> Record:
    return {
        "id": str(record_id),
        "key": key,
        "value": value,
        "created_at": created_at.isoformat(timespec="milliseconds"),
    }


def stored_bytes(document: Document) -> int:
    """The bytes of a document's value as stored (its JSON text in UTF-8)."""
    raw = document.get("value_json")
    return len(raw.encode()) if isinstance(raw, str) else 0


def new_document(key: str, value: Any, created_at: datetime) -> Document:
    """The document inserted for a record (``_id`` is assigned by the driver)."""
    return {"key": key, "value_json": stored_json(value), "created_at": created_at}


def from_document(document: Document) -> Record | None:
    """The record a stored document holds, or None for a document of another shape."""
    oid, key, raw, created_at = (document.get(f) for f in ("_id", "key", "value_json", "created_at"))
    if not (isinstance(oid, ObjectId) and isinstance(key, str) and isinstance(raw, str)):
        return None
    if not isinstance(created_at, datetime):
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    if created_at.tzinfo is None:
        created_at = created_at.replace(tzinfo=UTC)
    return as_record(oid, key, value, created_at)
