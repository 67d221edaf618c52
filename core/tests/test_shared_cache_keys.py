"""Shared-cache keys: every key is under its owner's namespace, and /health/all is cached
per instance and per configuration, so that instances sharing one cache never answer
each other's health. The shared cache here is one in-process backend given to several
applications, as Redis is to several instances (the Redis runs of these tests are in
plugins/redis/tests and tests/test_shared_cache_keys.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from cache_support import RecordingCache

from devstack import hookimpl
from devstack.api import HealthCheck, Host, MemoryCache, OwnedCache, fingerprint, health_body
from devstack.testing import host_of, running_app


class SharedCacheProvider:
    """Hands the same backend to every application it is registered in."""

    def __init__(self, cache: RecordingCache) -> None:
        self.cache = cache

    @hookimpl
    def devstack_cache_backend(self, host: Host) -> RecordingCache:
        return self.cache


class Checked:
    """A plugin with one health check named after it."""

    def __init__(self, name: str) -> None:
        self.name = name

    @hookimpl
    def devstack_health_checks(self, host: Host) -> list[HealthCheck]:
        async def probe() -> dict[str, Any]:
            return health_body(True)

        return [HealthCheck(name=self.name, probe=probe, critical=False)]


def instance(cache: RecordingCache, *checks: str, **settings: Any) -> Any:
    plugins: dict[str, object] = {"shared": SharedCacheProvider(cache)}
    plugins.update({name: Checked(name) for name in checks})
    settings.setdefault("health_cache_ttl", 30)
    return running_app(plugins=plugins, discover=False, **settings)


async def health_all(client: Any) -> tuple[str, set[str]]:
    response = await client.get("/health/all")
    assert response.status_code == 200
    return response.headers["X-Cache"], set((await response.get_json())["services"])


async def test_instances_with_other_plugins_never_answer_each_others_health() -> None:
    cache = RecordingCache()
    async with instance(cache, "alpha", "beta", "gamma") as (_big, big), instance(cache, "alpha") as (_small, small):
        assert await health_all(big) == ("MISS", {"alpha", "beta", "gamma"})
        assert await health_all(small) == ("MISS", {"alpha"})
        assert await health_all(small) == ("HIT", {"alpha"})
        assert await health_all(big) == ("HIT", {"alpha", "beta", "gamma"})


async def test_instances_with_the_same_plugins_keep_their_own_health() -> None:
    cache = RecordingCache()
    async with instance(cache, "alpha") as (first_app, first), instance(cache, "alpha") as (second_app, second):
        assert host_of(first_app).instance_id != host_of(second_app).instance_id
        assert (await health_all(first))[0] == "MISS"
        assert (await health_all(second))[0] == "MISS"
        assert (await health_all(second))[0] == "HIT"


async def test_workers_of_one_instance_share_its_health() -> None:
    """Workers of one ``devstack serve`` get its DEVSTACK_INSTANCE_ID."""
    cache = RecordingCache()
    async with instance(cache, "alpha", instance_id="pod-1") as (_one, one):
        assert (await health_all(one))[0] == "MISS"
    async with instance(cache, "alpha", instance_id="pod-1") as (_two, two):
        assert (await health_all(two))[0] == "HIT"
    # the same id with other settings or other plugins is another configuration
    async with instance(cache, "alpha", instance_id="pod-1", health_timeout=2) as (_three, three):
        assert (await health_all(three))[0] == "MISS"
    async with instance(cache, "alpha", "beta", instance_id="pod-1") as (_four, four):
        assert await health_all(four) == ("MISS", {"alpha", "beta"})


async def test_health_key_is_cores_and_names_the_instance() -> None:
    cache = RecordingCache()
    async with instance(cache, "alpha", instance_id="pod-7") as (_app, client):
        await client.get("/health/all")
    [key] = cache.writes
    owner, name, instance_id, configuration = key.split(":")
    assert (owner, name, instance_id) == ("core", "health-all", "pod-7")
    assert len(configuration) == 16


async def test_cache_for_namespaces_every_key_by_its_owner() -> None:
    cache = RecordingCache()
    async with instance(cache, "alpha") as (app, _client):
        host = host_of(app)
        owned = host.cache_for("alpha")
        assert isinstance(owned, OwnedCache)

        async def produce() -> dict[str, int]:
            return {"n": 1}

        assert await owned.cached_json("answer", 30, produce) == ({"n": 1}, None)
        value, age = await owned.cached_json("answer", 30, produce)
        assert value == {"n": 1} and age is not None
        assert cache.writes == ["alpha:answer"]

        await owned.cached_json("item:1", 30, produce)
        await owned.cached_json("item:2", 30, produce)
        await host.cache_for("core").cached_json("item:3", 30, produce)
        await owned.invalidate(prefix="item:")
        assert await cache.get("alpha:item:1") is None and await cache.get("alpha:item:2") is None
        assert await cache.get("core:item:3") is not None  # another owner's keys are not touched
        await owned.invalidate("answer")
        assert await cache.get("alpha:answer") is None


@pytest.mark.parametrize("ttl", [30, 0])
async def test_concurrent_misses_of_one_key_share_one_production(ttl: float) -> None:
    """No stampede: callers that miss while the value is being produced get that value;
    a failed production reaches every waiter, and the next miss tries again."""
    owned = OwnedCache("alpha", MemoryCache)
    productions = []

    async def produce() -> dict[str, int]:
        productions.append(1)
        await asyncio.sleep(0.05)
        if len(productions) == 2:
            raise RuntimeError("backend down")
        return {"n": len(productions)}

    answers = await asyncio.gather(*(owned.cached_json("answer", ttl, produce) for _ in range(20)))
    assert [value for value, _ in answers] == [{"n": 1}] * 20
    assert len(productions) == 1
    await owned.invalidate("answer")
    misses = (owned.cached_json("answer", ttl, produce) for _ in range(5))
    failures = await asyncio.gather(*misses, return_exceptions=True)
    assert all(isinstance(failure, RuntimeError) for failure in failures)
    assert len(productions) == 2
    assert (await owned.cached_json("answer", ttl, produce))[0] == {"n": 3}


async def test_cache_for_refuses_owners_that_are_not_core_or_a_plugin() -> None:
    async with running_app(discover=False, plugins={"alpha": Checked("alpha")}) as (app, _client):
        host = host_of(app)
        assert host.cache_for("core").namespace == "core:"
        assert host.cache_for("alpha").namespace == "alpha:"
        for owner in ("beta", "", "devstack", "alpha:x"):
            with pytest.raises(ValueError, match="neither core nor a discovered plugin"):
                host.cache_for(owner)
    with pytest.raises(ValueError, match="invalid shared-cache owner"):
        OwnedCache("a:b", MemoryCache)


async def test_instance_id_setting_is_checked() -> None:
    from pydantic import ValidationError

    from devstack.foundation.settings import CoreSettings, new_instance_id

    assert CoreSettings(instance_id="web-7f9c.prod_1").instance_id == "web-7f9c.prod_1"
    for bad in ("a:b", "a b", "x" * 65, "a/b"):
        with pytest.raises(ValidationError):
            CoreSettings(instance_id=bad)
    generated = {new_instance_id() for _ in range(3)}
    assert len(generated) == 3
    assert all(CoreSettings(instance_id=value).instance_id == value for value in generated)


def test_fingerprint_is_canonical() -> None:
    assert fingerprint({"a": 1, "b": [1, 2]}) == fingerprint({"b": [1, 2], "a": 1})
    assert fingerprint({"a": 1}) != fingerprint({"a": 2})
    assert len(fingerprint("x")) == 16
