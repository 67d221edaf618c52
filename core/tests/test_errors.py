"""Every error answer is the JSON envelope; a 500 never carries the exception's text."""

from __future__ import annotations

from typing import Any

from quart import Blueprint

from devstack import hookimpl
from devstack.api import Host
from devstack.foundation.errors import ServiceUnavailable
from devstack.testing import running_app

ENVELOPE_KEYS = {"error", "message", "status_code", "request_id"}


class Failing:
    @hookimpl
    def devstack_routes(self, host: Host) -> Blueprint:
        blueprint = Blueprint("failing", __name__)

        @blueprint.get("/failing/crash")
        async def crash() -> Any:
            raise RuntimeError("postgres://appuser:hunter2@db/appdb refused")

        @blueprint.get("/failing/down")
        async def down() -> Any:
            async with host.backend("fakedb", timeout=0.05):
                raise ConnectionRefusedError("hunter2")

        @blueprint.get("/failing/slow")
        async def slow() -> Any:
            import asyncio

            async with host.backend("slowdb", timeout=0.05):
                await asyncio.sleep(5)

        @blueprint.get("/failing/unavailable")
        async def unavailable() -> Any:
            raise ServiceUnavailable("vault", retry_after=12.2)

        return blueprint


async def test_not_found_and_method_not_allowed() -> None:
    async with running_app(discover=False) as (_, client):
        missing = await client.get("/no/such/path", headers={"X-Request-ID": "abc-123"})
        body = await missing.get_json()
        assert missing.status_code == 404
        assert set(body) == ENVELOPE_KEYS
        assert body["request_id"] == "abc-123" == missing.headers["X-Request-ID"]
        wrong = await client.delete("/health/")
        assert wrong.status_code == 405
        assert (await wrong.get_json())["error"] == "MethodNotAllowedError"
        assert "GET" in wrong.headers["Allow"]


async def test_invalid_request_id_is_replaced() -> None:
    async with running_app(discover=False) as (_, client):
        response = await client.get("/health/", headers={"X-Request-ID": "bad id with spaces"})
        assert response.headers["X-Request-ID"] != "bad id with spaces"
        assert len(response.headers["X-Request-ID"]) == 32
        assert response.headers["X-Response-Time"].endswith("ms")


async def test_unexpected_exception_is_a_plain_500(caplog: Any) -> None:
    async with running_app(plugins={"failing": Failing()}, discover=False, strict=False) as (_, client):
        response = await client.get("/failing/crash")
        text = (await response.get_data()).decode()
        assert response.status_code == 500
        assert set(await response.get_json()) == ENVELOPE_KEYS
        assert "hunter2" not in text and "RuntimeError" not in text


async def test_backend_failures_become_503_with_service() -> None:
    async with running_app(plugins={"failing": Failing()}, discover=False, strict=False) as (_, client):
        down = await client.get("/failing/down")
        body = await down.get_json()
        assert down.status_code == 503
        assert set(body) == ENVELOPE_KEYS | {"details", "retry_suggestion"}
        assert body["details"]["service"] == "fakedb"
        assert body["details"]["reason"] == "backend_error"
        assert "hunter2" not in str(body)
        slow = await (await client.get("/failing/slow")).get_json()
        assert slow["details"] == {"service": "slowdb", "reason": "timeout"}
        explicit = await client.get("/failing/unavailable")
        assert explicit.headers["Retry-After"] == "13"


async def test_breaker_opens_after_threshold_and_fails_fast() -> None:
    import time

    async with running_app(
        plugins={"failing": Failing()},
        discover=False,
        strict=False,
        breaker_failure_threshold=3,
        breaker_reset_timeout=30,
    ) as (_, client):
        for _ in range(3):
            assert (await client.get("/failing/down")).status_code == 503
        started = time.perf_counter()
        opened = await client.get("/failing/down")
        elapsed = time.perf_counter() - started
        body = await opened.get_json()
        assert opened.status_code == 503
        assert body["details"]["reason"] == "circuit_open"
        assert 0 < body["details"]["retry_after_seconds"] <= 30
        assert elapsed < 0.05
        root = await (await client.get("/")).get_json()
        assert root["security"]["circuit_breakers"]["states"]["fakedb"] == "opened"
        metrics = (await (await client.get("/metrics")).get_data()).decode()
        assert 'circuit_breaker_state{service="fakedb"} 2.0' in metrics
        assert 'circuit_breaker_transitions_total{service="fakedb",state="opened"} 1.0' in metrics


async def test_cancelled_calls_do_not_count_as_backend_failures() -> None:
    """A client that goes away mid-call cancels the handler: no failure for the breaker."""
    import asyncio

    import pytest

    from devstack.kit.breakers import Breakers

    breakers = Breakers(failure_threshold=2, reset_timeout=30)

    async def slow_call() -> None:
        async with breakers.guard("slowdb", 5):
            await asyncio.sleep(10)

    for _ in range(3):
        task = asyncio.create_task(slow_call())
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert breakers.state("slowdb") == "closed"
    async with breakers.guard("slowdb", 5):
        pass


async def test_empty_path_segments_are_a_404_not_a_redirect() -> None:
    """Regression: "//" in a path (also what "%2F" at the start of a path parameter
    decodes to) was answered 308 to the path with the slashes merged: another resource
    (".../secret/%2Fetc%2Fpasswd" redirected to ".../secret/etc/passwd")."""
    async with running_app(discover=False) as (_, client):
        for path in ("/health//", "/docs//assets/swagger-ui.css", "/docs/assets//swagger-ui.css"):
            response = await client.get(path)
            assert response.status_code == 404, path
            assert set(await response.get_json()) == ENVELOPE_KEYS
        assert (await client.get("/health/")).status_code == 200
