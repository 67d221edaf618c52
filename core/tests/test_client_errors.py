"""A client-caused error never counts toward a circuit breaker; a backend fault always does.

Regression (issue 12, finding 1): a publish body nested ~980 deep passed core's parser,
the plugin's ``json.dumps`` raised RecursionError inside ``host.backend`` and the guard
counted it as a backend failure: a few such requests opened the breaker for everyone.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import pytest
import requests
from quart import Blueprint, jsonify

from devstack import hookimpl
from devstack.api import Host, validated
from devstack.foundation.errors import ApiError, ServiceUnavailable, ValidationFailed
from devstack.kit.breakers import Breakers
from devstack.testing import free_port, running_app

DUMP_CONTRACT: dict[str, Any] = {
    "paths": {
        "/dump": {
            "post": {
                "operationId": "dump",
                "requestBody": {"required": True, "content": {"application/json": {"schema": {}}}},
                "responses": {"200": {"description": "stored"}},
            }
        }
    }
}


def encoded(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


class Publisher:
    """Encodes a message and hands it on, a few calls below the route (as the RabbitMQ
    plugin's publish does): the encoder runs deeper in the stack than core's parser."""

    def __init__(self) -> None:
        self.sent = 0

    async def publish(self, message: Any) -> None:
        await self.send(self.frame(message))

    def frame(self, message: Any) -> bytes:
        return self.body_of(message)

    def body_of(self, message: Any) -> bytes:
        return self.checked(encoded(message))

    @staticmethod
    def checked(data: bytes) -> bytes:
        return data

    async def send(self, data: bytes) -> None:
        self.sent += 1


class DumpPlugin:
    """POST /dump: publishes the body inside the "dumpdb" guard; answers its size only."""

    def __init__(self) -> None:
        self.publisher = Publisher()

    @hookimpl
    def devstack_routes(self, host: Host) -> Blueprint:
        blueprint = Blueprint("dump", __name__)
        publisher = self.publisher

        @blueprint.post("/dump")
        async def dump() -> Any:
            async with host.backend("dumpdb"):
                await publisher.publish(validated().body)
            return jsonify({"published": True})

        return blueprint

    @hookimpl
    def devstack_contract(self) -> Mapping[str, Any]:
        return DUMP_CONTRACT


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


GUARD_REFUSAL = "The request's data cannot be prepared for dumpdb"


async def test_an_unencodable_body_never_opens_the_breaker() -> None:
    """Near Python's recursion limit a body parses (the depth bound is raised here so that
    it reaches the handler) but does not encode inside the handler: every such request is
    a 422, none a 5xx, and the breaker stays closed."""
    plugin = DumpPlugin()
    outcomes: dict[str, int] = {}
    async with running_app(
        plugins={"dump": plugin}, discover=False, max_body_depth=1000, breaker_failure_threshold=1
    ) as (app, client):
        for depth in range(940, 1001):
            answer = await client.post("/dump", data=nested(depth), headers={"Content-Type": "application/json"})
            body = await answer.get_json()
            assert answer.status_code in (200, 422), (depth, answer.status_code, body)
            outcome = "published" if answer.status_code == 200 else body["details"]["validation_errors"][0]["msg"]
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        assert outcomes.get(GUARD_REFUSAL, 0) >= 1, f"no body failed to encode in the guard: {outcomes}"
        assert app.extensions["devstack"].host.breakers.state("dumpdb") == "closed"
        fine = await client.post("/dump", json={"a": [1, 2]})
        assert fine.status_code == 200
        metrics = (await (await client.get("/metrics")).get_data()).decode()
        assert 'circuit_breaker_transitions_total{service="dumpdb",state="opened"}' not in metrics


async def test_the_audits_979_deep_body_never_reaches_the_handler() -> None:
    plugin = DumpPlugin()
    async with running_app(plugins={"dump": plugin}, discover=False, breaker_failure_threshold=3) as (app, client):
        for _ in range(6):
            answer = await client.post("/dump", data=nested(979), headers={"Content-Type": "application/json"})
            assert answer.status_code == 422
            assert (await answer.get_json())["details"]["validation_errors"][0]["type"] == "json_too_deep"
        assert plugin.publisher.sent == 0
        assert app.extensions["devstack"].host.breakers.state("dumpdb") == "closed"


async def closed_port_connection() -> None:
    """What a driver does first: open a socket; nothing listens on the port."""
    await asyncio.open_connection("127.0.0.1", free_port())


async def encode_nan() -> None:
    json.dumps({"v": float("nan")}, allow_nan=False)


async def encode_object() -> None:
    json.dumps({"v": object()})


async def encode_too_deep() -> None:
    value: list[Any] = []
    for _ in range(100_000):
        value = [value]
    json.dumps(value)


async def encode_lone_surrogate() -> None:
    "\ud800".encode()


async def plugin_finds_the_answer_unexpected() -> None:
    raise ValueError("unexpected management API answer")


async def driver_value_error() -> None:
    """A driver's own ValueError subclass (requests' InvalidURL), raised inside it."""
    await asyncio.to_thread(requests.get, "http://", timeout=1)


async def driver_connection_refused() -> None:
    """A real driver (requests, under hvac) failing to connect."""
    await asyncio.to_thread(requests.get, f"http://127.0.0.1:{free_port()}/v1/sys/health", timeout=2)


COUNTED: list[Callable[[], Awaitable[None]]] = [
    closed_port_connection,
    driver_connection_refused,
    driver_value_error,
    plugin_finds_the_answer_unexpected,
]
NOT_COUNTED: list[Callable[[], Awaitable[None]]] = [encode_nan, encode_object, encode_too_deep, encode_lone_surrogate]


CASES = [*[(failure, "opened") for failure in COUNTED], *[(failure, "closed") for failure in NOT_COUNTED]]


@pytest.mark.parametrize(("failure", "state"), CASES, ids=lambda case: getattr(case, "__name__", case))
async def test_backend_faults_count_and_encoding_errors_do_not(
    failure: Callable[[], Awaitable[None]], state: str
) -> None:
    """Backend faults are 503s that open the breaker; encoding errors are 422s that never
    count, however many."""
    breakers = Breakers(failure_threshold=2, reset_timeout=30)
    for _ in range(2 if state == "opened" else 5):
        with pytest.raises(ApiError) as raised:
            async with breakers.guard("db", 5):
                await failure()
        if state == "opened":
            assert isinstance(raised.value, ServiceUnavailable)
            assert raised.value.details == {"service": "db", "reason": "backend_error"}
        else:
            assert isinstance(raised.value, ValidationFailed) and raised.value.status_code == 422
    assert breakers.state("db") == state


async def test_validation_errors_inside_the_guard_are_never_counted() -> None:
    import jsonschema
    import pydantic

    class Model(pydantic.BaseModel):
        n: int

    breakers = Breakers(failure_threshold=1, reset_timeout=30)
    for run in (lambda: Model(n="x"), lambda: jsonschema.validate(1, {"type": "string"})):  # type: ignore[arg-type]
        with pytest.raises(ValidationFailed):
            async with breakers.guard("db", 5):
                run()
    assert breakers.state("db") == "closed"
