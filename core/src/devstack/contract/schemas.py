"""The contract's schemas as the validators read them: local ``$ref``s inlined, the
contract as a JSON Schema resource for recursive ones, and path or query strings
converted to the type their schema asks for."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from referencing import Registry
from referencing.jsonschema import DRAFT202012

INTEGER = re.compile(r"[+-]?\d{1,18}")
NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")

CONTRACT_URI = "urn:devstack:contract"


def reject_constant(name: str) -> float:
    """``NaN``, ``Infinity`` and ``-Infinity`` are not JSON (RFC 8259), though Python's
    parser takes them; no backend stores them."""
    raise ValueError(f"{name} is not a JSON value")


def finite_float(text: str) -> float:
    """A JSON number as a float; one that overflows to infinity (``1e400``) is refused,
    as no backend stores it."""
    value = float(text)
    if math.isinf(value):
        raise ValueError("number out of range")
    return value


def resolve_refs(node: Any, document: Mapping[str, Any], depth: int = 0, _seen: tuple[str, ...] = ()) -> Any:
    """Inline local ``$ref``s. A reference to a schema it is already inside (a recursive
    schema, such as "any JSON value without NUL") stays a reference, made absolute
    (``CONTRACT_URI#/...``) so that a validator given ``contract_registry(document)``
    finds it."""
    if depth > 64:
        raise ValueError("schema references nest too deep")
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            merged = {k: v for k, v in node.items() if k != "$ref"}
            if ref in _seen:
                return {"$ref": CONTRACT_URI + ref, **merged}
            target: Any = document
            for part in ref[2:].split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            resolved = resolve_refs(target, document, depth + 1, (*_seen, ref))
            return {**resolved, **merged} if merged else resolved
        return {k: resolve_refs(v, document, depth + 1, _seen) for k, v in node.items()}
    if isinstance(node, list):
        return [resolve_refs(v, document, depth + 1, _seen) for v in node]
    return node


def contract_registry(document: Mapping[str, Any]) -> Registry[Any]:
    """The contract as a JSON Schema resource at ``CONTRACT_URI``, for the references
    ``resolve_refs`` leaves in recursive schemas."""
    registry: Registry[Any] = Registry().with_resource(CONTRACT_URI, DRAFT202012.create_resource(dict(document)))
    return registry


def schema_types(schema: Mapping[str, Any]) -> set[str]:
    """The JSON types a (possibly anyOf) schema admits."""
    kind = schema.get("type")
    if isinstance(kind, str):
        return {kind}
    if isinstance(kind, list):
        return set(kind)
    found: set[str] = set()
    for option in schema.get("anyOf", []) + schema.get("oneOf", []):
        found |= schema_types(option)
    return found


def coerce(raw: str, schema: Mapping[str, Any]) -> Any:
    """A path or query string converted to the type its schema asks for, when it can be."""
    types = schema_types(schema)
    if "integer" in types and INTEGER.fullmatch(raw):
        return int(raw)
    if "number" in types and NUMBER.fullmatch(raw):
        return float(raw)
    if "boolean" in types and raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    return raw
