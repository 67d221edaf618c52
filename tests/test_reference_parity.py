"""Drop-in for the reference API: every reference operation exists with the same
parameter constraints, and reference endpoints answer with exactly the reference's keys.

The table below states the reference contract's facts in our own words: operation,
parameter, where it goes, and its constraints."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from devstack.contract.schemas import resolve_refs

from .conftest import SPEC_FILE

NAME_50 = {"minLength": 1, "maxLength": 50, "pattern": "^[a-zA-Z0-9_-]+$"}
KEY_100 = {"minLength": 1, "maxLength": 100, "pattern": "^[a-zA-Z0-9_-]+$"}
CACHE_KEY = {"minLength": 1, "maxLength": 200, "pattern": "^[a-zA-Z0-9_:.-]+$"}
QUEUE = {"minLength": 1, "maxLength": 100, "pattern": "^[a-zA-Z0-9_.-]+$"}

REFERENCE_OPERATIONS: dict[tuple[str, str], dict[tuple[str, str], dict[str, Any]]] = {
    ("GET", "/"): {},
    ("GET", "/metrics"): {},
    ("GET", "/health/"): {},
    ("GET", "/health/all"): {},
    ("GET", "/health/vault"): {},
    ("GET", "/health/postgres"): {},
    ("GET", "/health/mysql"): {},
    ("GET", "/health/mongodb"): {},
    ("GET", "/health/redis"): {},
    ("GET", "/health/rabbitmq"): {},
    ("GET", "/redis/cluster/nodes"): {},
    ("GET", "/redis/cluster/slots"): {},
    ("GET", "/redis/cluster/info"): {},
    ("GET", "/redis/nodes/{node_name}/info"): {("path", "node_name"): {}},
    ("GET", "/examples/vault/secret/{service_name}"): {("path", "service_name"): NAME_50},
    ("GET", "/examples/vault/secret/{service_name}/{key}"): {
        ("path", "service_name"): NAME_50,
        ("path", "key"): KEY_100,
    },
    ("GET", "/examples/database/postgres/query"): {},
    ("GET", "/examples/database/mysql/query"): {},
    ("GET", "/examples/database/mongodb/query"): {},
    ("GET", "/examples/cache/{key}"): {("path", "key"): CACHE_KEY},
    ("POST", "/examples/cache/{key}"): {
        ("path", "key"): CACHE_KEY,
        ("query", "value"): {"minLength": 0, "maxLength": 10000, "required": True},
        ("query", "ttl"): {"minimum": 1, "maximum": 86400, "required": False},
    },
    ("DELETE", "/examples/cache/{key}"): {("path", "key"): CACHE_KEY},
    ("POST", "/examples/messaging/publish"): {("query", "queue_name"): {**QUEUE, "required": True}},
    ("GET", "/examples/messaging/queue/{queue_name}/info"): {("path", "queue_name"): QUEUE},
}


def spec() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(SPEC_FILE.read_text())
    return loaded


@pytest.mark.parametrize(("method", "path"), sorted(REFERENCE_OPERATIONS))
def test_reference_operation_exists_with_same_constraints(method: str, path: str) -> None:
    document = spec()
    path_item = document["paths"].get(path, {})
    operation = path_item.get(method.lower())
    assert operation is not None, f"{method} {path} is missing"
    declared = resolve_refs(path_item.get("parameters", []) + operation.get("parameters", []), document)
    parameters = {(p["in"], p["name"]): p for p in declared}
    for (location, name), constraints in REFERENCE_OPERATIONS[(method, path)].items():
        assert (location, name) in parameters, f"{method} {path} lacks {location} parameter {name}"
        parameter = parameters[(location, name)]
        expected = dict(constraints)
        required = expected.pop("required", location == "path")
        assert parameter.get("required", False) == required
        for key, value in expected.items():
            assert parameter["schema"].get(key) == value, f"{method} {path} {name}.{key}"


def test_publish_takes_a_json_object_body() -> None:
    body = spec()["paths"]["/examples/messaging/publish"]["post"]["requestBody"]
    assert body["required"] is True
    assert body["content"]["application/json"]["schema"]["type"] == "object"
