"""Bad input: 422 with the field at fault, 413 over 64 KB, 415 for a body that is not JSON.

Nothing invalid reaches MongoDB: the collection stays empty after every refused request.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from devstack.testing import running_app
from devstack.testkit import Contract

BASE = "/examples/database/mongodb"

BAD_BODIES: list[tuple[Any, list[str | int]]] = [
    ({"value": 1}, ["body"]),  # key missing
    ({"key": "k"}, ["body"]),  # value missing
    ({"key": "", "value": 1}, ["body", "key"]),
    ({"key": "k" * 101, "value": 1}, ["body", "key"]),
    ({"key": "has space", "value": 1}, ["body", "key"]),
    ({"key": "$gt", "value": 1}, ["body", "key"]),
    ({"key": "a/b", "value": 1}, ["body", "key"]),
    ({"key": "line\n", "value": 1}, ["body", "key"]),
    ({"key": {"$gt": ""}, "value": 1}, ["body", "key"]),
    ({"key": 12, "value": 1}, ["body", "key"]),
    ({"key": "k", "value": 1, "extra": True}, ["body"]),
    ([{"key": "k", "value": 1}], ["body"]),
    ("just a string", ["body"]),
    (None, ["body"]),
]


@pytest.mark.parametrize(("body", "loc"), BAD_BODIES)
async def test_invalid_bodies_answer_422(mongo_env: dict[str, str | None], body: Any, loc: list[str | int]) -> None:
    async with running_app(env=mongo_env) as (_app, client):
        response = await client.post(BASE, data=json.dumps(body), headers={"Content-Type": "application/json"})
        assert response.status_code == 422
        envelope = await response.get_json()
        assert envelope["error"] == "ValidationError"
        errors = envelope["details"]["validation_errors"]
        assert any(error["loc"] == loc for error in errors), errors
        (await Contract.of(client)).check("POST", BASE, 422, envelope)
        listed = await (await client.get(BASE)).get_json()
        assert listed["count"] == 0


@pytest.mark.parametrize("raw", [b"{not json", b'{"key": "k", "value": NaN}', b'{"key": "k", "value": 1e999}'])
async def test_unparseable_or_non_finite_values_answer_422(mongo_env: dict[str, str | None], raw: bytes) -> None:
    async with running_app(env=mongo_env) as (_app, client):
        response = await client.post(BASE, data=raw, headers={"Content-Type": "application/json"})
        assert response.status_code == 422
        envelope = await response.get_json()
        assert envelope["error"] == "ValidationError"
        assert envelope["details"]["validation_errors"][0]["loc"][0] == "body"
        assert (await (await client.get(BASE)).get_json())["count"] == 0


async def test_empty_body_answers_422(mongo_env: dict[str, str | None]) -> None:
    async with running_app(env=mongo_env) as (_app, client):
        response = await client.post(BASE, headers={"Content-Type": "application/json"})
        assert response.status_code == 422


async def test_body_that_is_not_json_answers_415(mongo_env: dict[str, str | None]) -> None:
    async with running_app(env=mongo_env) as (_app, client):
        response = await client.post(BASE, data="key=k&value=1", headers={"Content-Type": "text/plain"})
        assert response.status_code == 415
        envelope = await response.get_json()
        assert envelope["error"] == "UnsupportedMediaTypeError"
        (await Contract.of(client)).check("POST", BASE, 415, envelope)


def body_of_size(size: int) -> bytes:
    """A valid record body of exactly ``size`` bytes."""
    shell = json.dumps({"key": "big", "value": ""}).encode()
    padding = size - len(shell)
    raw = json.dumps({"key": "big", "value": "x" * padding}).encode()
    assert len(raw) == size
    return raw


async def test_body_over_64_kib_answers_413_and_the_limit_itself_is_accepted(mongo_env: dict[str, str | None]) -> None:
    async with running_app(env=mongo_env) as (_app, client):
        too_big = await client.post(BASE, data=body_of_size(65537), headers={"Content-Type": "application/json"})
        assert too_big.status_code == 413
        envelope = await too_big.get_json()
        assert envelope["error"] == "PayloadTooLargeError"
        (await Contract.of(client)).check("POST", BASE, 413, envelope)
        assert (await (await client.get(BASE)).get_json())["count"] == 0

        at_limit = await client.post(BASE, data=body_of_size(65536), headers={"Content-Type": "application/json"})
        assert at_limit.status_code == 201
        assert len((await at_limit.get_json())["value"]) == 65536 - len(json.dumps({"key": "big", "value": ""}))


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=abc", "limit"),
        ("limit=1.5", "limit"),
        ("offset=-1", "offset"),
        ("offset=1000000001", "offset"),
        ("offset=x", "offset"),
    ],
)
async def test_invalid_list_parameters_answer_422(mongo_env: dict[str, str | None], query: str, field: str) -> None:
    async with running_app(env=mongo_env) as (_app, client):
        response = await client.get(f"{BASE}?{query}")
        assert response.status_code == 422
        envelope = await response.get_json()
        assert envelope["details"]["validation_errors"][0]["loc"] == ["query", field]
        (await Contract.of(client)).check("GET", BASE, 422, envelope)
