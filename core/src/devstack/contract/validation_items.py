"""The items of a 422 answer in the reference's (pydantic v2) style.

Each item is ``{"type", "loc", "msg", "input", "ctx"}``: ``type`` one of pydantic's error
types (``string_pattern_mismatch``, ``less_than_equal``, ``missing``...), ``input`` the
value received (for a path or query parameter the text sent; null when missing),
``ctx`` the rule broken (``{"pattern": ...}``, ``{"le": 86400}``), present when the rule
has one. A JSON Schema keyword with no pydantic counterpart keeps its own name as the
type and the validator's message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jsonschema import ValidationError

MAX_MESSAGE = 200


def plural(count: Any, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def sized(kind: str, field_type: str, word: str) -> Callable[[Any, Any], tuple[dict[str, Any], str]]:
    """ctx and message of a minItems/maxItems/minProperties/maxProperties failure."""

    def describe(limit: Any, instance: Any) -> tuple[dict[str, Any], str]:
        actual = len(instance) if isinstance(instance, (list, dict)) else 0
        ctx = {"field_type": field_type, kind: limit, "actual_length": actual}
        return ctx, f"{field_type} should have {word} {plural(limit, 'item')} after validation, not {actual}"

    return describe


def bound(ctx_key: str, template: str) -> Callable[[Any, Any], tuple[dict[str, Any], str]]:
    def describe(limit: Any, _instance: Any) -> tuple[dict[str, Any], str]:
        return {ctx_key: limit}, template.format(limit=limit)

    return describe


def text_length(ctx_key: str, word: str) -> Callable[[Any, Any], tuple[dict[str, Any], str]]:
    def describe(limit: Any, _instance: Any) -> tuple[dict[str, Any], str]:
        return {ctx_key: limit}, f"String should have {word} {plural(limit, 'character')}"

    return describe


def expected(limit: Any, _instance: Any) -> tuple[dict[str, Any], str]:
    options = limit if isinstance(limit, list) else [limit]
    wanted = " or ".join(repr(option) for option in options)
    return {"expected": wanted}, f"Input should be {wanted}"


# JSON Schema keyword -> (pydantic type, ctx and message from the keyword's value and the instance)
RULES: dict[str, tuple[str, Callable[[Any, Any], tuple[dict[str, Any], str]]]] = {
    "pattern": ("string_pattern_mismatch", bound("pattern", "String should match pattern '{limit}'")),
    "minLength": ("string_too_short", text_length("min_length", "at least")),
    "maxLength": ("string_too_long", text_length("max_length", "at most")),
    "minimum": ("greater_than_equal", bound("ge", "Input should be greater than or equal to {limit}")),
    "maximum": ("less_than_equal", bound("le", "Input should be less than or equal to {limit}")),
    "exclusiveMinimum": ("greater_than", bound("gt", "Input should be greater than {limit}")),
    "exclusiveMaximum": ("less_than", bound("lt", "Input should be less than {limit}")),
    "multipleOf": ("multiple_of", bound("multiple_of", "Input should be a multiple of {limit}")),
    "minItems": ("too_short", sized("min_length", "List", "at least")),
    "maxItems": ("too_long", sized("max_length", "List", "at most")),
    "minProperties": ("too_short", sized("min_length", "Dictionary", "at least")),
    "maxProperties": ("too_long", sized("max_length", "Dictionary", "at most")),
    "const": ("literal_error", expected),
    "enum": ("literal_error", expected),
}
# JSON type -> (pydantic type, message); a text where a number or boolean was expected
# is a parsing error, as pydantic says of query and path values
TYPES: dict[str, tuple[str, str]] = {
    "string": ("string_type", "Input should be a valid string"),
    "integer": ("int_type", "Input should be a valid integer"),
    "number": ("float_type", "Input should be a valid number"),
    "boolean": ("bool_type", "Input should be a valid boolean"),
    "object": ("dict_type", "Input should be a valid dictionary"),
    "array": ("list_type", "Input should be a valid list"),
    "null": ("none_required", "Input should be None"),
}
PARSED: dict[str, tuple[str, str]] = {
    "integer": ("int_parsing", "Input should be a valid integer, unable to parse string as an integer"),
    "number": ("float_parsing", "Input should be a valid number, unable to parse string as a number"),
    "boolean": ("bool_parsing", "Input should be a valid boolean, unable to interpret input"),
}
NO_INPUT = object()


def short(message: str) -> str:
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 3] + "..."


def item(
    kind: str, loc: list[str | int], msg: str, value: Any = None, ctx: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One 422 item (``ctx`` only when given)."""
    found: dict[str, Any] = {"type": kind, "loc": loc, "msg": short(msg), "input": value}
    if ctx is not None:
        found["ctx"] = ctx
    return found


def missing(loc: list[str | int], msg: str = "Field required") -> dict[str, Any]:
    return item("missing", loc, msg)


def type_failure(wanted: Any, instance: Any) -> tuple[str, str]:
    name = wanted[0] if isinstance(wanted, list) and wanted else wanted
    kind, message = TYPES.get(str(name), (f"{name}_type", f"Input should be of type {name}"))
    if isinstance(instance, str) and name in PARSED:
        return PARSED[name]
    return kind, message


def from_schema_error(error: ValidationError, loc: list[str | int], sent: Any = NO_INPUT) -> dict[str, Any]:
    """The item for one JSON Schema failure at ``loc``; ``sent`` is the raw text of a
    path or query parameter (the schema saw it converted)."""
    keyword = str(error.validator)
    value = error.instance if sent is NO_INPUT else sent
    if keyword == "required":
        return missing(loc)
    if keyword == "additionalProperties":
        return item("extra_forbidden", loc, "Extra inputs are not permitted", value)
    if keyword == "type":
        kind, message = type_failure(error.validator_value, value)
        return item(kind, loc, message, value)
    rule = RULES.get(keyword)
    if rule is None:
        return item(keyword, loc, error.message, value)
    kind, describe = rule
    ctx, message = describe(error.validator_value, error.instance)
    return item(kind, loc, message, value, ctx)
