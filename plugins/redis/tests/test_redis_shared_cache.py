"""Core's shared cache in Redis: host.cache is the plugin's backend, /health/all's cached
result is a Redis key, delete_prefix uses SCAN + UNLINK, and a Redis that cannot be
reached is bypassed, never fatal."""

from __future__ import annotations

import time

import httpx
import pytest
from redis_support import Target

from devstack.api import CacheBackend, CacheUnavailable
from devstack.testing import ServerProcess, host_of, running_app
from devstack.testkit import closed_port

HEALTH_ALL_KEY = "core:health-all:"


def health_keys(target: Target) -> list[bytes]:
    """The /health/all entries of every instance in the test's namespace."""
    return list(target.client.scan_iter(match=f"{target.shared_prefix}{HEALTH_ALL_KEY}*", count=1000))


async def test_host_cache_is_redis_and_health_all_is_cached_there(target: Target) -> None:
    env = {**target.env, "DEVSTACK_INSTANCE_ID": "pod-1"}
    async with running_app(env=env) as (app, client):
        cache = host_of(app).cache
        assert isinstance(cache, CacheBackend)
        assert cache.name == "redis"

        first = await client.get("/health/all")
        assert first.status_code == 200
        assert first.headers["X-Cache"] == "MISS"
        [key] = health_keys(target)
        assert key.decode().startswith(f"{target.shared_prefix}{HEALTH_ALL_KEY}pod-1:")
        stored = target.client.get(key)
        assert stored is not None and b'"redis"' in stored
        assert 0 < target.client.pttl(key) <= 30_000

        second = await client.get("/health/all")
        assert second.headers["X-Cache"] == "HIT"
        assert await second.get_json() == await first.get_json()

    # another application of the same instance (a worker) sees the same cached answer
    async with running_app(env=env) as (_app, client):
        assert (await client.get("/health/all")).headers["X-Cache"] == "HIT"
    # another instance with the same plugins and settings computes its own
    async with running_app(env={**env, "DEVSTACK_INSTANCE_ID": "pod-2"}) as (_app, client):
        assert (await client.get("/health/all")).headers["X-Cache"] == "MISS"
    assert len(health_keys(target)) == 2


async def test_cache_operations(target: Target) -> None:
    async with running_app(env=target.env) as (app, _client):
        cache = host_of(app).cache
        assert await cache.get("absent") is None
        await cache.set("a", b"\x00binary\xff", 30)
        assert await cache.get("a") == b"\x00binary\xff"
        assert 0 < target.client.pttl(f"{target.shared_prefix}a") <= 30_000

        await cache.set("fractional", b"x", 0.5)
        assert 0 < target.client.pttl(f"{target.shared_prefix}fractional") <= 500

        await cache.set("gone", b"x", 0)
        assert await cache.get("gone") is None

        await cache.set("b", b"1", 30)
        assert await cache.delete("a", "b", "never-there") == 2
        assert await cache.get("a") is None
        assert await cache.delete() == 0


async def test_delete_prefix_scans_and_unlinks_only_the_prefix(target: Target) -> None:
    async with running_app(env=target.env) as (app, _client):
        cache = host_of(app).cache
        for index in range(1200):  # more than one SCAN page and one UNLINK batch
            await cache.set(f"vault:secret:{index}", b"v", 60)
        await cache.set("vault:other", b"keep", 60)
        await cache.set("vault:secret*glob[1]", b"literal", 60)
        await cache.set("vault:secretive", b"also matches the prefix", 60)

        assert await cache.delete_prefix("vault:secret:") == 1200
        assert await cache.get("vault:other") == b"keep"
        assert await cache.get("vault:secret*glob[1]") == b"literal"
        assert await cache.get("vault:secretive") == b"also matches the prefix"

        # glob characters in the prefix are matched literally
        assert await cache.delete_prefix("vault:secret*") == 1
        assert await cache.get("vault:secretive") == b"also matches the prefix"
        assert await cache.delete_prefix("vault:") == 2
        assert await cache.delete_prefix("nothing-here:") == 0
    remaining = list(target.client.scan_iter(match=f"{target.shared_prefix}*"))
    assert remaining == []


async def test_unreachable_redis_is_bypassed(standalone: Target) -> None:
    env = {**standalone.env, "REDIS_URL": f"redis://127.0.0.1:{closed_port()}/0"}
    started = time.monotonic()
    async with running_app(env=env) as (app, client):
        assert time.monotonic() - started < 10  # startup does not wait for Redis
        cache = host_of(app).cache
        assert cache.name == "redis"
        with pytest.raises(CacheUnavailable):
            await cache.get("k")
        with pytest.raises(CacheUnavailable):
            await cache.set("k", b"v", 10)
        with pytest.raises(CacheUnavailable):
            await cache.delete("k")
        with pytest.raises(CacheUnavailable):
            await cache.delete_prefix("k")

        for _ in range(2):
            response = await client.get("/health/all")
            assert response.status_code == 200
            assert response.headers["X-Cache"] == "MISS"  # computed each time, not cached
            body = await response.get_json()
            assert body["status"] == "degraded"
            assert body["services"]["redis"]["status"] == "unhealthy"

        response = await client.get("/examples/cache/k")
        assert response.status_code == 503
        assert (await response.get_json())["details"]["service"] == "redis"


async def test_cache_metrics(standalone: Target) -> None:
    async with running_app(env=standalone.env) as (app, client):
        cache = host_of(app).cache
        await cache.get("nope")
        await cache.set("yes", b"1", 10)
        await cache.get("yes")
        await client.post("/examples/cache/m?value=1&ttl=10")
        await client.get("/examples/cache/m")
        await client.get("/examples/cache/absent")
        await client.delete("/examples/cache/m")
        await client.get("/examples/cache/pattern/m*")
        text = await (await client.get("/metrics")).get_data(as_text=True)
    expected = [
        'redis_cache_lookups_total{result="miss",store="shared"} 1.0',
        'redis_cache_lookups_total{result="hit",store="shared"} 1.0',
        'redis_cache_lookups_total{result="hit",store="examples"} 1.0',
        # the absent key and the search that found nothing
        'redis_cache_lookups_total{result="miss",store="examples"} 2.0',
        'redis_operations_total{operation="shared_get",result="ok"} 2.0',
        'redis_operations_total{operation="shared_set",result="ok"} 1.0',
        'redis_operations_total{operation="examples_set",result="ok"} 1.0',
        'redis_operations_total{operation="examples_get",result="ok"} 2.0',
        'redis_operations_total{operation="examples_delete",result="ok"} 1.0',
        'redis_operations_total{operation="examples_search",result="ok"} 1.0',
        'redis_operation_duration_seconds_count{operation="examples_get"} 2.0',
        'redis_operation_duration_seconds_count{operation="shared_get"} 2.0',
    ]
    for line in expected:
        assert line in text, line


async def test_error_metrics_when_redis_is_down(standalone: Target) -> None:
    env = {**standalone.env, "REDIS_URL": f"redis://127.0.0.1:{closed_port()}/0"}
    async with running_app(env=env) as (app, client):
        with pytest.raises(CacheUnavailable):
            await host_of(app).cache.get("k")
        assert (await client.get("/examples/cache/k")).status_code == 503
        text = await (await client.get("/metrics")).get_data(as_text=True)
    # connection refused: the guard's reason, not a lookup
    assert 'redis_operations_total{operation="shared_get",result="backend_error"} 1.0' in text
    assert 'redis_operations_total{operation="examples_get",result="backend_error"} 1.0' in text
    assert "redis_cache_lookups_total{" not in text


@pytest.mark.slow
def test_workers_share_the_cache(standalone: Target) -> None:
    """Two Hypercorn workers: /health/all computed once, then served from Redis by both.

    Every request opens a new connection, so the workers share the requests; with a
    per-process cache each worker would compute (MISS) once.
    """
    env = {key: value for key, value in standalone.env.items() if value is not None}
    env.update(DEVSTACK_WORKERS="2", DEVSTACK_LOG_LEVEL="WARNING", DEVSTACK_RATE_LIMIT_ENABLED="false")
    with ServerProcess(env=env) as server:
        answers = [
            httpx.get(f"{server.url}/health/all", headers={"Connection": "close"}, timeout=10) for _ in range(30)
        ]
    assert all(answer.status_code == 200 for answer in answers)
    assert [answer.headers["X-Cache"] for answer in answers].count("MISS") == 1
    assert answers[0].headers["X-Cache"] == "MISS"
    assert len(health_keys(standalone)) == 1
