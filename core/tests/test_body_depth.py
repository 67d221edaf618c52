"""Core refuses JSON bodies nested deeper than DEVSTACK_MAX_BODY_DEPTH (64) with a 422, for
every operation, before any handler runs: with a body schema, without one, and on a
route the contract does not document."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest
from quart import Blueprint, jsonify, request

from devstack import hookimpl
from devstack.api import Host, validated
from devstack.contract.nesting import nests_deeper_than
from devstack.testing import running_app

ANY_JSON = {"required": True, "content": {"application/json": {"schema": {}}}}
NEST_CONTRACT: dict[str, Any] = {
    "paths": {
        "/nest/any": {"post": {"operationId": "nest_any", "requestBody": ANY_JSON, "responses": {"200": {}}}},
        "/nest/items/{item}": {
            "put": {
                "operationId": "nest_put",
                "parameters": [{"name": "item", "in": "path", "required": True, "schema": {"type": "string"}}],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"type": "object", "required": ["v"]}}},
                },
                "responses": {"200": {}},
            },
            "patch": {
                "operationId": "nest_patch",
                "parameters": [{"name": "item", "in": "path", "required": True, "schema": {"type": "string"}}],
                "requestBody": ANY_JSON,
                "responses": {"200": {}},
            },
        },
        # no requestBody: core does not validate the body; the handler parses it itself
        "/nest/own": {"post": {"operationId": "nest_own", "responses": {"200": {}}}},
    }
}
ROUTES = [("POST", "/nest/any"), ("PUT", "/nest/items/a"), ("PATCH", "/nest/items/a"), ("POST", "/nest/own")]


class NestPlugin:
    def __init__(self) -> None:
        self.handled = 0

    @hookimpl
    def devstack_routes(self, host: Host) -> Blueprint:
        blueprint = Blueprint("nest", __name__)
        plugin = self

        @blueprint.post("/nest/any")
        async def any_json() -> Any:
            plugin.handled += 1
            return jsonify({"ok": validated().body is not None})

        @blueprint.route("/nest/items/<item>", methods=["PUT", "PATCH"])
        async def item(item: str) -> Any:
            plugin.handled += 1
            return jsonify({"ok": True})

        @blueprint.post("/nest/own")
        async def own() -> Any:
            plugin.handled += 1
            return jsonify({"ok": (await request.get_json()) is not None})

        @blueprint.post("/nest/undocumented")
        async def undocumented() -> Any:
            plugin.handled += 1
            return jsonify({"ok": (await request.get_json()) is not None})

        return blueprint

    @hookimpl
    def devstack_contract(self) -> Mapping[str, Any]:
        return NEST_CONTRACT


def body_of_depth(depth: int) -> bytes:
    """An object ``{"v": [[...0...]]}`` nesting ``depth`` levels, the outer object included."""
    return b'{"v":' + b"[" * (depth - 1) + b"0" + b"]" * (depth - 1) + b"}"


async def send(client: Any, method: str, path: str, raw: bytes) -> tuple[int, Any]:
    answer = await client.open(path, method=method, data=raw, headers={"Content-Type": "application/json"})
    return answer.status_code, await answer.get_json()


def too_deep(status: int, body: Any) -> bool:
    return status == 422 and body["details"]["validation_errors"][0]["type"] == "json_too_deep"


async def test_depth_over_the_bound_is_a_422_on_every_route_before_the_handler() -> None:
    plugin = NestPlugin()
    async with running_app(plugins={"nest": plugin}, discover=False, strict=False) as (_, client):
        for method, path in [*ROUTES, ("POST", "/nest/undocumented")]:
            status, body = await send(client, method, path, body_of_depth(65))
            assert too_deep(status, body), f"{method} {path}: {status} {body}"
            assert set(body) == {"error", "message", "status_code", "request_id", "details"}
            assert "64" in body["details"]["validation_errors"][0]["msg"]
            for depth in (64, 1):
                status, body = await send(client, method, path, body_of_depth(depth))
                assert status == 200, f"{method} {path} at depth {depth}: {status} {body}"
            status, body = await send(client, method, path, b"[" * 100_000 + b"]" * 100_000)
            assert too_deep(status, body), f"{method} {path}: {status} {body}"
            brackets_in_strings = json.dumps({"v": "[{" * 500 + '\\"]', "w": ["[" * 100]}).encode()
            assert (await send(client, method, path, brackets_in_strings))[0] == 200, "strings do not nest"
        assert plugin.handled == 3 * (len(ROUTES) + 1)


async def test_the_bound_is_a_setting() -> None:
    async with running_app(plugins={"nest": NestPlugin()}, discover=False, strict=False, max_body_depth=8) as (
        _,
        client,
    ):
        for method, path in ROUTES:
            assert too_deep(*(await send(client, method, path, body_of_depth(9))))
            assert (await send(client, method, path, body_of_depth(8)))[0] == 200


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("1", 0),
        ("[]", 1),
        ('{"a": [1, {"b": []}], "c": {}}', 4),
        ('["]]]]", "\\"[[[[", {"k[": "{{"}]', 2),
        ('["a\\\\", [["]\\\\\\"["]], "\\\\\\\\"]', 3),
        ("[[], [[]], [[[]]], []]", 4),
        ("[" * 70 + "]" * 70, 70),
        ('{"a":' * 65 + "1" + "}" * 65, 65),
    ],
)
def test_nesting_is_measured_on_the_bytes(text: str, depth: int) -> None:
    for encoding in ("utf-8", "utf-16", "utf-32-be"):
        raw = text.encode(encoding)
        assert not nests_deeper_than(raw, depth), (text, encoding)
        if depth:
            assert nests_deeper_than(raw, depth - 1), (text, encoding)


def test_non_ascii_text_never_looks_like_a_bracket() -> None:
    value = ["\u225b\u5b7b\u7d22" * 40 for _ in range(80)]  # UTF-16 units holding 0x5b, 0x22, 0x7d
    for encoding in ("utf-8", "utf-16-le", "utf-16-be"):
        assert not nests_deeper_than(json.dumps(value, ensure_ascii=False).encode(encoding), 1)
