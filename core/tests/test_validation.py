"""Pure logic of request validation (no application)."""

from __future__ import annotations

import json

import pytest

from devstack.contract.schemas import coerce, resolve_refs
from devstack.contract.validation import SchemaValidator, compile_contract
from devstack.foundation.errors import ApiError, PayloadTooLarge, UnsupportedMediaType, ValidationFailed

DOCUMENT = {
    "components": {"schemas": {"Key": {"type": "string", "pattern": "^[a-z]+$", "maxLength": 5}}},
    "paths": {
        "/items/{key}": {
            "post": {
                "parameters": [
                    {"name": "key", "in": "path", "required": True, "schema": {"$ref": "#/components/schemas/Key"}},
                    {"name": "ttl", "in": "query", "schema": {"type": "integer", "minimum": 1}},
                    {"name": "flag", "in": "query", "schema": {"type": "boolean", "default": False}},
                ],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"type": "object", "required": ["v"]}}},
                },
                "x-max-body-bytes": 32,
            }
        }
    },
}


def test_coerce_by_schema_type() -> None:
    assert coerce("12", {"type": "integer"}) == 12
    assert coerce("-3", {"anyOf": [{"type": "integer"}, {"type": "null"}]}) == -3
    assert coerce("1.5", {"type": "number"}) == 1.5
    assert coerce("true", {"type": "boolean"}) is True
    assert coerce("12abc", {"type": "integer"}) == "12abc"
    assert coerce("9" * 40, {"type": "integer"}) == "9" * 40


def test_trailing_newline_does_not_pass_an_anchored_pattern() -> None:
    validator = SchemaValidator({"type": "string", "pattern": "^[a-z]+$"})
    assert validator.is_valid("abc")
    assert not validator.is_valid("abc\n")


def test_refs_are_inlined() -> None:
    resolved = resolve_refs({"$ref": "#/components/schemas/Key"}, DOCUMENT)
    assert resolved == {"type": "string", "pattern": "^[a-z]+$", "maxLength": 5}


RECURSIVE_DOCUMENT = {
    "components": {
        "schemas": {
            "Tree": {
                "anyOf": [
                    {"type": "array", "items": {"$ref": "#/components/schemas/Tree"}},
                    {"type": "string", "pattern": "^[a-z]*$"},
                ]
            }
        }
    },
    "paths": {
        "/trees": {
            "post": {
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {"type": "object", "properties": {"tree": {"$ref": "#/components/schemas/Tree"}}}
                        }
                    }
                }
            }
        }
    },
}


def test_a_recursive_schema_is_checked_at_every_depth_and_the_failing_leaf_is_named() -> None:
    operation = compile_contract(RECURSIVE_DOCUMENT)[("POST", "/trees")]
    assert operation.check_body(b'{"tree": ["a", ["b", ["c"]]]}', "application/json")
    with pytest.raises(ValidationFailed) as failure:
        operation.check_body(b'{"tree": ["a", ["b", ["C"]]]}', "application/json")
    assert [error["loc"] for error in failure.value.errors] == [["body", "tree", 1, 1, 0]]
    assert failure.value.errors[0]["type"] == "string_pattern_mismatch"
    assert failure.value.errors[0]["input"] == "C"


def test_parameters_are_checked_converted_and_defaulted() -> None:
    operation = compile_contract(DOCUMENT)[("POST", "/items/{key}")]
    result = operation.check_parameters({"key": "abc"}, {"ttl": "5"})
    assert result.path == {"key": "abc"}
    assert result.query == {"ttl": 5, "flag": False}
    with pytest.raises(ValidationFailed) as failure:
        operation.check_parameters({"key": "ABCDEFG"}, {"ttl": "0"})
    locations = sorted(tuple(error["loc"]) for error in failure.value.errors)
    assert locations == [("path", "key"), ("path", "key"), ("query", "ttl")]


def test_422_items_have_the_reference_shape() -> None:
    """pydantic v2 items: type, loc, msg, input (the text sent, null when missing) and
    ctx (the rule) when the rule has one."""
    operation = compile_contract(DOCUMENT)[("POST", "/items/{key}")]
    with pytest.raises(ValidationFailed) as failure:
        operation.check_parameters({"key": "ABCDEFG"}, {"ttl": "0"})
    expected = [
        ("greater_than_equal", ["query", "ttl"], "Input should be greater than or equal to 1", "0", {"ge": 1}),
        (
            "string_pattern_mismatch",
            ["path", "key"],
            "String should match pattern '^[a-z]+$'",
            "ABCDEFG",
            {"pattern": "^[a-z]+$"},
        ),
        ("string_too_long", ["path", "key"], "String should have at most 5 characters", "ABCDEFG", {"max_length": 5}),
    ]
    items = sorted(failure.value.errors, key=lambda error: error["type"])
    assert items == [dict(zip(("type", "loc", "msg", "input", "ctx"), row, strict=True)) for row in expected]
    with pytest.raises(ValidationFailed) as failure:
        operation.check_parameters({"key": "abc"}, {"ttl": "soon"})
    assert failure.value.errors == [
        {
            "type": "int_parsing",
            "loc": ["query", "ttl"],
            "msg": "Input should be a valid integer, unable to parse string as an integer",
            "input": "soon",
        }
    ]
    with pytest.raises(ValidationFailed) as failure:
        operation.check_body(b"[1]", "application/json")
    assert failure.value.errors == [
        {"type": "dict_type", "loc": ["body"], "msg": "Input should be a valid dictionary", "input": [1]}
    ]


def test_every_422_item_has_an_input_and_long_inputs_are_shortened() -> None:
    missing = ValidationFailed([{"loc": ["query", "q"], "msg": "Field required", "type": "missing"}])
    assert missing.errors[0]["input"] is None
    long_text = ValidationFailed([{"loc": ["body"], "msg": "x", "type": "t", "input": "a" * 100_000}])
    shown = long_text.errors[0]["input"]
    assert isinstance(shown, str) and shown.startswith("aaa") and len(shown) < 2100
    large = ValidationFailed([{"loc": ["body"], "msg": "x", "type": "t", "input": {"k": [list(range(50))] * 10_000}}])
    shown = large.errors[0]["input"]
    assert isinstance(shown["k"], list) and isinstance(shown["k"][0], list)
    assert len(json.dumps(shown)) < 20_000


def test_body_rules() -> None:
    operation = compile_contract(DOCUMENT)[("POST", "/items/{key}")]
    assert operation.check_body(b'{"v": 1}', "application/json") == {"v": 1}
    with pytest.raises(PayloadTooLarge):
        operation.check_body(b'{"v": "' + b"x" * 40 + b'"}', "application/json")
    with pytest.raises(ValidationFailed, match="validation failed"):
        operation.check_body(b"", "application/json")
    with pytest.raises(UnsupportedMediaType):
        operation.check_body(b'{"v": 1}', "text/csv")
    with pytest.raises(ValidationFailed) as failure:
        operation.check_body(b"{not json", "application/json")
    assert failure.value.errors[0]["type"] == "json_invalid"
    with pytest.raises(ValidationFailed) as failure:
        operation.check_body(b"{}", "application/json")
    assert failure.value.errors[0]["type"] == "missing"
    assert failure.value.errors[0]["input"] is None


def test_deeply_nested_json_is_a_422_not_a_crash() -> None:
    operation = compile_contract(DOCUMENT)[("POST", "/items/{key}")]
    operation.max_body_bytes = None
    nested = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(ValidationFailed):
        operation.check_body(nested, "application/json")


def test_lone_surrogate_escapes_are_not_valid_json() -> None:
    """Regression: '{"a": "\\ud800"}' parsed into a string no UTF-8 encoder takes; the
    plugin's driver then failed inside its backend guard: a 503 that counted towards
    opening the backend's circuit breaker."""
    operation = compile_contract(DOCUMENT)[("POST", "/items/{key}")]
    operation.max_body_bytes = None
    for raw in (b'{"v": "\\ud800"}', b'{"v": 1, "w": ["\\uDFFF x"]}', b'{"v": "\\ud83d"}'):
        with pytest.raises(ValidationFailed) as failure:
            operation.check_body(raw, "application/json")
        assert failure.value.errors[0]["type"] == "json_invalid"
    assert operation.check_body(b'{"v": "\\ud83d\\ude00"}', "application/json") == {"v": "\U0001f600"}


OWN_ANSWERS = {
    "paths": {
        "/publish": {
            "post": {
                "parameters": [
                    {
                        "name": "queue",
                        "in": "query",
                        "required": True,
                        "schema": {
                            "type": "string",
                            "pattern": "^[a-z.]+$",
                            "allOf": [{"not": {"pattern": "^amq\\."}, "x-error-status": 400}],
                        },
                    }
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "allOf": [
                                    {
                                        "minProperties": 1,
                                        "x-error-status": 400,
                                        "x-error-message": "Message body must be a non-empty JSON object",
                                    }
                                ],
                            }
                        }
                    },
                },
            }
        }
    }
}


def test_a_rule_of_the_contract_can_name_its_own_answer() -> None:
    """x-error-status on a subschema: breaking only that rule is answered with that status
    (the reference's 400 for an empty message), anything else stays a 422."""
    operation = compile_contract(OWN_ANSWERS)[("POST", "/publish")]
    with pytest.raises(ApiError) as refused:
        operation.check_body(b"{}", "application/json")
    assert refused.value.status_code == 400
    assert refused.value.message == "Message body must be a non-empty JSON object"
    with pytest.raises(ValidationFailed):
        operation.check_body(b"[]", "application/json")
    assert operation.check_body(b'{"a": 1}', "application/json") == {"a": 1}
    with pytest.raises(ApiError) as refused:
        operation.check_parameters({}, {"queue": "amq.x"})
    assert refused.value.status_code == 400 and not isinstance(refused.value, ValidationFailed)
    with pytest.raises(ValidationFailed):
        operation.check_parameters({}, {"queue": "AMQ"})
    with pytest.raises(ValidationFailed):
        operation.check_parameters({}, {})
    assert operation.check_parameters({}, {"queue": "orders.new"}).query == {"queue": "orders.new"}


@pytest.mark.parametrize("raw", [b'{"v": NaN}', b'{"v": -Infinity}', b'{"v": [1e400]}'])
def test_bodies_that_are_not_rfc_8259_json_are_refused(raw: bytes) -> None:
    operation = compile_contract(DOCUMENT)[("POST", "/items/{key}")]
    with pytest.raises(ValidationFailed) as failure:
        operation.check_body(raw, "application/json")
    assert failure.value.errors[0]["type"] == "json_invalid"
    assert operation.check_body(b'{"v": 1e300}', "application/json") == {"v": 1e300}
