"""JSON logs (request fields, redaction safety net), circuit breakers, response cache."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from quart import Blueprint, jsonify

from devstack import hookimpl
from devstack.api import CacheUnavailable, HealthCheck, Host, health_body
from devstack.observability.logs import JsonFormatter, register_secret
from devstack.testing import running_app

FLAKY_CONTRACT: dict[str, Any] = {
    "paths": {
        "/flaky/{mode}": {
            "get": {
                "operationId": "flaky",
                "parameters": [{"name": "mode", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {
                    "200": {"description": "ok"},
                    "503": {"$ref": "#/components/responses/ServiceUnavailable"},
                },
            }
        }
    }
}


class FlakyPlugin:
    """GET /flaky/{ok|fail} through host.backend("flaky"); a health check with details."""

    def __init__(self) -> None:
        self.backend_calls = 0

    @hookimpl
    def devstack_routes(self, host: Host) -> Blueprint:
        blueprint = Blueprint("flaky", __name__)
        plugin = self

        @blueprint.get("/flaky/<mode>")
        async def flaky(mode: str) -> Any:
            logging.getLogger("devstack_flaky").info("calling the backend", extra={"mode": mode})
            async with host.backend("flaky"):
                plugin.backend_calls += 1
                if mode == "fail":
                    raise ConnectionError("postgresql://app:hunter2@db/x refused")
            return jsonify({"ok": True})

        return blueprint

    @hookimpl
    def devstack_contract(self) -> Mapping[str, Any]:
        return FLAKY_CONTRACT

    @hookimpl
    def devstack_health_checks(self, host: Host) -> list[HealthCheck]:
        async def with_details() -> dict[str, Any]:
            return health_body(True, details={"initialized": True})

        async def without_details() -> dict[str, Any]:
            return health_body(True, version="1")

        return [
            HealthCheck(name="flaky", probe=with_details, critical=False),
            HealthCheck(name="plain", probe=without_details, critical=False),
        ]

    @hookimpl
    def devstack_root_info(self, host: Host) -> Mapping[str, Any]:
        return {"security": {"circuit_breakers": {"services": ["flaky"]}}}


class DownCache:
    """A shared cache whose backend is down."""

    name = "down"

    def __init__(self) -> None:
        self.calls = 0

    async def get(self, key: str) -> bytes | None:
        self.calls += 1
        raise CacheUnavailable("down")

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        self.calls += 1
        raise CacheUnavailable("down")

    async def delete(self, *keys: str) -> int:
        raise CacheUnavailable("down")

    async def delete_prefix(self, prefix: str) -> int:
        raise CacheUnavailable("down")


class DownCachePlugin:
    def __init__(self) -> None:
        self.cache = DownCache()

    @hookimpl
    def devstack_cache_backend(self, host: Host) -> DownCache:
        return self.cache


class CapturingFormatter(logging.Formatter):
    """Core's JSON formatter behind another type (create_app replaces JsonFormatter handlers)."""

    def __init__(self) -> None:
        super().__init__()
        self.json = JsonFormatter()

    def format(self, record: logging.LogRecord) -> str:
        return self.json.format(record)


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """Every log record of the test, formatted by core's JSON formatter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(CapturingFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield stream
    finally:
        root.removeHandler(handler)


def parsed(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


# logs -------------------------------------------------------------------------------------
async def test_one_json_line_per_request_with_the_request_fields(json_lines: io.StringIO) -> None:
    async with running_app(discover=False, plugins={"flaky": FlakyPlugin()}) as (_app, client):
        await client.get("/flaky/ok", headers={"X-Request-ID": "trace-42"})
        await client.get("/metrics", headers={"X-Request-ID": "trace-43"})
    lines = parsed(json_lines)
    mine = [line for line in lines if line.get("request_id") == "trace-42"]
    assert [line["message"] for line in mine] == ["calling the backend", "request"]
    request_line = mine[-1]
    assert request_line["method"] == "GET"
    assert request_line["route"] == "/flaky/{mode}"
    assert request_line["status"] == 200
    assert isinstance(request_line["duration_ms"], float)
    assert request_line["plugin"] == "flaky"
    assert request_line["level"] == "INFO"
    core_line = next(line for line in lines if line.get("request_id") == "trace-43")
    assert core_line["route"] == "/metrics"
    assert core_line["plugin"] == "core"


async def test_log_level_from_settings(json_lines: io.StringIO) -> None:
    async with running_app(discover=False, log_level="WARNING") as (_app, client):
        await client.get("/health/", headers={"X-Request-ID": "quiet-1"})
    assert not [line for line in parsed(json_lines) if line.get("request_id") == "quiet-1"]


def format_record(message: str, *args: Any, **extra: Any) -> dict[str, Any]:
    record = logging.LogRecord("devstack.test", logging.WARNING, __file__, 1, message, args, None)
    for key, value in extra.items():
        setattr(record, key, value)
    result: dict[str, Any] = json.loads(JsonFormatter().format(record))
    return result


def test_redaction_of_credential_named_fields() -> None:
    entry = format_record(
        "connecting",
        password="pw-1",
        db_password="pw-2",
        token="tok-3",
        client_secret="sec-4",
        api_key="key-5",
        authorization="Bearer tok-6",
        config={"user": "app", "Password": "pw-7", "nested": [{"X-API-Key": "key-8"}], "port": 5432},
        headers=[("Authorization", "Basic dXNlcjpwdw=="), ("x-api-key", "key-9"), ("accept", "*/*")],
        raw_headers=[(b"authorization", b"Bearer tok-10")],
    )
    text = json.dumps(entry)
    for secret in (
        "pw-1",
        "pw-2",
        "tok-3",
        "sec-4",
        "key-5",
        "tok-6",
        "pw-7",
        "key-8",
        "dXNlcjpwdw",
        "key-9",
        "tok-10",
    ):
        assert secret not in text, secret
    assert entry["password"] == "***"
    assert entry["config"]["user"] == "app"
    assert entry["config"]["port"] == 5432
    assert entry["headers"][2] == ["accept", "*/*"]


def test_redaction_inside_text() -> None:
    entry = format_record(
        "dsn %s failed; header Authorization: Bearer abc.def; password=s3cr3t&x=1",
        "postgresql://app:hunter2@db:5432/app",
        detail="X-API-Key: k-12345 token=t0k3n",
    )
    text = json.dumps(entry)
    for secret in ("hunter2", "abc.def", "s3cr3t", "k-12345", "t0k3n"):
        assert secret not in text, secret
    assert "postgresql://app:***@db:5432/app" in entry["message"]
    assert "x=1" in entry["message"]


def test_log_lines_use_the_one_masking_policy() -> None:
    """Names by pattern (keys, secret_id, private_key), nested, URL passwords, name=value text."""
    entry = format_record(
        "message %s",
        "pass=pw-log",
        keys="k-1,k-2",
        config={"secret_id": "sid-9", "nested": {"private_key": "pk-9"}, "dsn": "mysql://u:pw-8@h/db"},
        note="retrying with secret_id=sid-7",
    )
    text = json.dumps(entry)
    for value in ("k-1", "sid-9", "pk-9", "pw-8", "sid-7", "pw-log"):
        assert value not in text, value
    assert entry["keys"] == "***"
    assert entry["config"]["dsn"] == "mysql://u:***@h/db"


def test_registered_secret_values_are_masked_anywhere() -> None:
    register_secret("registered-value-77")
    entry = format_record("got registered-value-77", note="it was registered-value-77", items=["registered-value-77"])
    assert "registered-value-77" not in json.dumps(entry)


async def test_api_keys_never_reach_the_log(json_lines: io.StringIO) -> None:
    async with running_app(discover=False, api_keys="super-secret-key-1") as (_app, client):
        await client.get("/", headers={"X-API-Key": "super-secret-key-1"})
        await client.get("/", headers={"X-API-Key": "wrong-key-2"})
        logging.getLogger("devstack.test").warning("headers seen", extra={"headers": {"X-API-Key": "wrong-key-2"}})
        logging.getLogger("devstack.test").warning("echo super-secret-key-1")
    text = json_lines.getvalue()
    assert "super-secret-key-1" not in text
    assert "wrong-key-2" not in text


# circuit breakers -------------------------------------------------------------------------
async def test_breaker_opens_after_consecutive_failures_and_fails_fast() -> None:
    plugin = FlakyPlugin()
    async with running_app(discover=False, plugins={"flaky": plugin}) as (_app, client):
        for _ in range(5):
            failed = await client.get("/flaky/fail")
            assert failed.status_code == 503
            assert (await failed.get_json())["details"]["reason"] == "backend_error"
        assert plugin.backend_calls == 5
        refused = await client.get("/flaky/ok", headers={"X-Request-ID": "open-1"})
        assert plugin.backend_calls == 5  # fails fast: the backend was not called
        assert refused.status_code == 503
        body = await refused.get_json()
        assert body["error"] == "ServiceUnavailableError"
        assert body["details"]["service"] == "flaky"
        assert body["details"]["reason"] == "circuit_open"
        assert 0 < body["details"]["retry_after_seconds"] <= 60
        assert body["retry_suggestion"].startswith("Retry after ")
        assert body["request_id"] == "open-1"
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert "hunter2" not in json.dumps(body)

        root = await (await client.get("/")).get_json()
        breakers = root["security"]["circuit_breakers"]
        assert breakers["states"] == {"flaky": "opened"}
        assert breakers["services"] == ["flaky"]
        assert breakers["failure_threshold"] == 5
        assert breakers["reset_timeout"] == "60s"

        health = await (await client.get("/health/flaky")).get_json()
        assert health["details"] == {"initialized": True, "circuit_breaker": "opened"}
        plain = await (await client.get("/health/plain")).get_json()
        assert plain == {"status": "healthy", "version": "1"}  # fixed key set: no breaker here

        metrics = (await (await client.get("/metrics")).get_data()).decode()
        assert 'circuit_breaker_state{service="flaky"} 2.0' in metrics
        assert 'circuit_breaker_transitions_total{service="flaky",state="opened"} 1.0' in metrics


async def test_breaker_threshold_and_reset_are_configurable_and_half_open_recovers() -> None:
    plugin = FlakyPlugin()
    settings = {"breaker_failure_threshold": 2, "breaker_reset_timeout": 0.3}
    async with running_app(discover=False, plugins={"flaky": plugin}, **settings) as (_app, client):
        for _ in range(2):
            assert (await client.get("/flaky/fail")).status_code == 503
        assert (await (await client.get("/flaky/ok")).get_json())["details"]["reason"] == "circuit_open"
        assert plugin.backend_calls == 2
        await asyncio.sleep(0.35)
        trial = await client.get("/flaky/ok")  # half-open: one trial call, which succeeds
        assert trial.status_code == 200
        assert plugin.backend_calls == 3
        root = await (await client.get("/")).get_json()
        assert root["security"]["circuit_breakers"]["states"] == {"flaky": "closed"}
        assert root["security"]["circuit_breakers"]["reset_timeout"] == "0.3s"
        metrics = (await (await client.get("/metrics")).get_data()).decode()
        assert 'circuit_breaker_state{service="flaky"} 0.0' in metrics
        for state in ("opened", "half-opened", "closed"):
            assert f'circuit_breaker_transitions_total{{service="flaky",state="{state}"}} 1.0' in metrics


# response cache ---------------------------------------------------------------------------
async def test_health_all_is_cached_with_age_and_x_cache() -> None:
    async with running_app(discover=False, plugins={"flaky": FlakyPlugin()}) as (_app, client):
        first = await client.get("/health/all")
        assert first.headers["X-Cache"] == "MISS"
        assert first.headers["Age"] == "0"
        second = await client.get("/health/all")
        assert second.headers["X-Cache"] == "HIT"
        assert int(second.headers["Age"]) >= 0
        assert await first.get_json() == await second.get_json()


async def test_cache_backend_down_is_bypassed_not_fatal() -> None:
    provider = DownCachePlugin()
    plugins = {"flaky": FlakyPlugin(), "downcache": provider}
    async with running_app(discover=False, plugins=plugins) as (_app, client):
        for _ in range(2):
            response = await client.get("/health/all")
            assert response.status_code == 200
            assert response.headers["X-Cache"] == "MISS"
            assert (await response.get_json())["services"]["flaky"]["status"] == "healthy"
        # tried every time, never fatal: a read, a second read inside the single flight, a write
        assert provider.cache.calls == 6
