"""Rate limits per client address and class, with the limits library (memory and Redis)."""

from __future__ import annotations

import json
import logging
import sys
import time
import uuid
from typing import Any

import pytest
from pydantic import ValidationError

from devstack.foundation.settings import CoreSettings
from devstack.http.pipeline import pipeline_of
from devstack.http.ratelimit import ClientAddress, limit_class, storage_uri
from devstack.testing import running_app

CLIENT_A = {"client": ("10.1.0.1", 40000)}
CLIENT_B = {"client": ("10.1.0.2", 40000)}
REDIS = "redis://127.0.0.1:6379/1"


def limited(**settings: Any) -> dict[str, Any]:
    return {"discover": False, "rate_limit_enabled": True, **settings}


def test_classes_of_paths() -> None:
    assert limit_class("/metrics") == "metrics"
    assert limit_class("/health/") == "health"
    assert limit_class("/health/postgres") == "health"
    assert limit_class("/healthz") == "general"
    assert limit_class("/") == "general"
    assert limit_class("/examples/cache/x") == "general"


def test_storage_uris() -> None:
    assert storage_uri("memory://") == "async+memory://"
    assert storage_uri("redis://127.0.0.1:6379/1") == "async+redis://127.0.0.1:6379/1"
    assert storage_uri("async+redis://h:1/0") == "async+redis://h:1/0"


async def test_headers_on_every_limited_response_with_the_class_limits() -> None:
    async with running_app(**limited()) as (_app, client):
        before = time.time()
        for path, limit in (("/", "100"), ("/health/", "200"), ("/metrics", "1000"), ("/nowhere", "100")):
            response = await client.get(path, scope_base=CLIENT_A)
            assert response.headers["X-RateLimit-Limit"] == limit, path
            assert int(response.headers["X-RateLimit-Remaining"]) < int(limit)
            reset = int(response.headers["X-RateLimit-Reset"])
            assert before < reset <= before + 61  # Unix time, end of the one-minute window
        second = await client.get("/health/", scope_base=CLIENT_A)
        assert second.headers["X-RateLimit-Remaining"] == "198"


async def test_over_the_limit_is_a_429_envelope_with_retry_after() -> None:
    async with running_app(**limited(rate_limit_general="3/minute")) as (_app, client):
        for expected in ("2", "1", "0"):
            ok = await client.get("/", scope_base=CLIENT_A)
            assert ok.status_code == 200
            assert ok.headers["X-RateLimit-Remaining"] == expected
        refused = await client.get("/openapi.json", scope_base=CLIENT_A, headers={"X-Request-ID": "rl-1"})
        assert refused.status_code == 429
        body = await refused.get_json()
        assert body["error"] == "RateLimitError"
        assert body["status_code"] == 429
        assert body["request_id"] == "rl-1"
        assert set(body) == {"error", "message", "status_code", "request_id"}
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert refused.headers["X-RateLimit-Limit"] == "3"
        assert refused.headers["X-RateLimit-Remaining"] == "0"
        assert refused.headers["X-Request-ID"] == "rl-1"
        # other classes and other clients have their own budgets
        assert (await client.get("/health/", scope_base=CLIENT_A)).status_code == 200
        assert (await client.get("/metrics", scope_base=CLIENT_A)).status_code == 200
        assert (await client.get("/", scope_base=CLIENT_B)).status_code == 200


async def test_health_and_metrics_limits_are_configurable() -> None:
    async with running_app(**limited(rate_limit_health="2/minute", rate_limit_metrics="1/minute")) as (_app, client):
        assert [(await client.get("/health/", scope_base=CLIENT_A)).status_code for _ in range(3)] == [
            200,
            200,
            429,
        ]
        assert [(await client.get("/metrics", scope_base=CLIENT_A)).status_code for _ in range(2)] == [200, 429]


async def test_probe_paths_are_never_limited() -> None:
    """/health/live and /health/ready are what load balancers and orchestrators poll, all
    instances from the same few addresses: with the budget shared through Redis, limiting
    them took every instance out of rotation at once."""
    async with running_app(**limited(rate_limit_health="2/minute")) as (_app, client):
        for path in ("/health/live", "/health/ready"):
            answers = [await client.get(path, scope_base=CLIENT_A) for _ in range(5)]
            assert [answer.status_code for answer in answers] == [200] * 5, path
            assert all("X-RateLimit-Limit" not in answer.headers for answer in answers)
        assert [(await client.get("/health/", scope_base=CLIENT_A)).status_code for _ in range(3)] == [200, 200, 429]
    async with running_app(**limited(rate_limit_health="2/minute", rate_limit_exempt="")) as (_app, client):
        assert [(await client.get("/health/ready", scope_base=CLIENT_A)).status_code for _ in range(3)] == [
            200,
            200,
            429,
        ]


async def test_off_when_disabled() -> None:
    async with running_app(discover=False, rate_limit_general="1/minute") as (_app, client):
        for _ in range(3):
            response = await client.get("/", scope_base=CLIENT_A)
            assert response.status_code == 200
            assert "X-RateLimit-Limit" not in response.headers


async def test_forwarded_for_is_ignored_unless_the_proxy_is_trusted() -> None:
    async with running_app(**limited(rate_limit_general="1/minute")) as (_app, client):
        assert (await client.get("/", scope_base=CLIENT_A, headers={"X-Forwarded-For": "1.1.1.1"})).status_code == 200
        spoofed = await client.get("/", scope_base=CLIENT_A, headers={"X-Forwarded-For": "2.2.2.2"})
        assert spoofed.status_code == 429  # same socket address: same budget
    async with running_app(**limited(rate_limit_general="1/minute", trusted_proxies="10.1.0.0/24")) as (_app, client):
        assert (await client.get("/", scope_base=CLIENT_A, headers={"X-Forwarded-For": "1.1.1.1"})).status_code == 200
        assert (await client.get("/", scope_base=CLIENT_A, headers={"X-Forwarded-For": "2.2.2.2"})).status_code == 200
        again = await client.get("/", scope_base=CLIENT_B, headers={"X-Forwarded-For": "1.1.1.1, 10.1.0.9"})
        assert again.status_code == 429  # 10.1.0.9 is a trusted hop: the client is 1.1.1.1


def test_client_address_walks_forwarded_for_from_the_right() -> None:
    clients = ClientAddress(["10.0.0.0/8", "::1"])
    assert clients.of("10.0.0.1", "1.1.1.1, 2.2.2.2, 10.0.0.7") == "2.2.2.2"
    assert clients.of("10.0.0.1", None) == "10.0.0.1"
    assert clients.of("10.0.0.1", "garbage") == "10.0.0.1"
    assert clients.of("192.168.1.1", "1.1.1.1") == "192.168.1.1"
    assert clients.of("::1", "10.0.0.2, 10.0.0.3") == "10.0.0.2"
    assert ClientAddress([]).of("10.0.0.1", "1.1.1.1") == "10.0.0.1"


async def test_moving_window_strategy() -> None:
    async with running_app(**limited(rate_limit_general="2/minute", rate_limit_strategy="moving-window")) as (
        _app,
        client,
    ):
        codes = [(await client.get("/", scope_base=CLIENT_A)).status_code for _ in range(3)]
        assert codes == [200, 200, 429]


async def test_redis_storage_is_shared_by_instances() -> None:
    prefix = f"devstack-test-{uuid.uuid4().hex}"
    settings = limited(rate_limit_general="4/minute", rate_limit_storage=REDIS, rate_limit_key_prefix=prefix)
    async with running_app(**settings) as (_one, first), running_app(**settings) as (_two, second):
        codes = []
        for index in range(6):
            client = first if index % 2 == 0 else second
            codes.append((await client.get("/", scope_base=CLIENT_A)).status_code)
        assert codes == [200, 200, 200, 200, 429, 429]


async def test_redis_down_fails_open_with_a_metric_and_one_log_line(caplog: pytest.LogCaptureFixture) -> None:
    settings = limited(rate_limit_general="1/minute", rate_limit_storage="redis://127.0.0.1:1/0")
    caplog.set_level(logging.ERROR, logger="devstack.ratelimit")
    async with running_app(**settings) as (app, client):
        started = time.perf_counter()
        for _ in range(5):
            response = await client.get("/", scope_base=CLIENT_A)
            assert response.status_code == 200
            assert "X-RateLimit-Limit" not in response.headers
        assert time.perf_counter() - started < 2.0
        metrics = (await (await client.get("/metrics")).get_data()).decode()
        assert "http_rate_limit_storage_errors_total 6.0" in metrics
        assert pipeline_of(app).limiter.describe() == "redis"
    failures = [r for r in caplog.records if r.name == "devstack.ratelimit"]
    assert len(failures) == 1
    assert failures[0].getMessage() == "rate-limit storage failed; requests are let through"
    assert "127.0.0.1:1" not in json.dumps(vars(failures[0]), default=str)


def test_a_redis_storage_without_the_redis_client_is_a_settings_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # None in sys.modules is how Python marks a module as not importable
    monkeypatch.setitem(sys.modules, "redis", None)
    monkeypatch.setitem(sys.modules, "coredis", None)
    monkeypatch.setitem(sys.modules, "valkey", None)
    with pytest.raises(ValidationError) as caught:
        CoreSettings(rate_limit_storage="redis://127.0.0.1:6379/1")
    message = str(caught.value)
    assert "rate_limit_storage" in message
    assert "none is installed" in message and "devstack-core[redis] installs redis" in message
    assert CoreSettings(rate_limit_storage="memory://").rate_limit_storage == "memory://"


def test_an_unknown_storage_scheme_is_a_settings_error() -> None:
    with pytest.raises(ValidationError, match="unknown rate-limit storage scheme 'nosuch'"):
        CoreSettings(rate_limit_storage="nosuch://host/0")
