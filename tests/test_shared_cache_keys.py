"""Instances sharing one Redis (the shared cache of the redis plugin, on the real cluster):
none answers another's /health/all, every key says whose it is, and a Vault write
through one instance drops the cached reads of every instance.

Each application here is a separate instance built in this process with its own plugin
set (``DEVSTACK_PLUGINS``), all with the same ``REDIS_KEY_PREFIX``, as several
``devstack serve`` behind one load balancer would be.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import pytest

from devstack.testing import host_of, running_app

from .conftest import PLUGINS
from .support import best_effort, cache_keys, delete_cache_keys, delete_vault_secret, services_env, unique


@pytest.fixture
def shared_prefix() -> Iterator[str]:
    prefix = f"{unique('cache-keys-')}:"
    yield prefix
    delete_cache_keys(prefix)


@pytest.fixture
def secret() -> Iterator[str]:
    name = unique("cache-keys-")
    yield name
    best_effort((delete_vault_secret, name))


@asynccontextmanager
async def instances(prefix: str, *envs: dict[str, str]) -> AsyncIterator[list[tuple[Any, Any]]]:
    """Started applications sharing the Redis cache under ``prefix``, one per ``env``."""
    async with AsyncExitStack() as stack:
        started = []
        for extra in envs:
            env = {**services_env(), "REDIS_KEY_PREFIX": prefix, "DEVSTACK_HEALTH_CACHE_TTL": "30", **extra}
            started.append(await stack.enter_async_context(running_app(env=env)))
        for app, _client in started:
            assert host_of(app).cache.name == "redis"
        yield started


async def health_all(client: Any) -> tuple[str, set[str]]:
    response = await client.get("/health/all")
    assert response.status_code == 200
    return response.headers["X-Cache"], set((await response.get_json())["services"])


async def test_instances_with_other_plugins_never_answer_each_others_health(shared_prefix: str) -> None:
    """The audit's case: a two-plugin instance was served the six-plugin one's answer."""
    everything = {"DEVSTACK_PLUGINS": ",".join(PLUGINS)}
    two = {"DEVSTACK_PLUGINS": "vault,redis"}
    async with instances(shared_prefix, everything, two, everything) as [(_, six), (_, small), (_, other_six)]:
        assert await health_all(six) == ("MISS", set(PLUGINS))
        assert await health_all(small) == ("MISS", {"vault", "redis"})
        assert await health_all(small) == ("HIT", {"vault", "redis"})
        assert await health_all(six) == ("HIT", set(PLUGINS))
        # the same plugins and settings, another instance: its own health, not the first's
        assert await health_all(other_six) == ("MISS", set(PLUGINS))
    assert len(cache_keys(f"{shared_prefix}core:health-all:")) == 3


async def test_every_shared_cache_key_starts_with_its_owner(shared_prefix: str, secret: str) -> None:
    async with instances(shared_prefix, {}) as [(app, client)]:
        written = await client.post(f"/examples/vault/secret/{secret}", json={"user": "u", "api": "x"})
        assert written.status_code == 200
        for url in ("/health/all", f"/examples/vault/secret/{secret}", f"/examples/vault/secret/{secret}/user"):
            response = await client.get(url)
            assert response.status_code == 200, url
            assert response.headers["X-Cache"] == "MISS", url
        owners = {"core", *host_of(app).plugin_names()}
    keys = [key.removeprefix(shared_prefix) for key in cache_keys(shared_prefix)]
    written_by = {key.split(":", 1)[0] for key in keys}
    assert written_by <= owners, keys
    assert {"core", "vault"} <= written_by, keys


async def test_a_vault_write_drops_the_cached_reads_of_every_instance(shared_prefix: str, secret: str) -> None:
    same_vault = {"DEVSTACK_PLUGINS": "vault,redis"}
    # the same Vault by another address: its reads are cached apart, and still dropped
    alias = {**same_vault, "VAULT_ADDR": services_env()["VAULT_ADDR"].replace("127.0.0.1", "localhost")}
    whole, one_key = f"/examples/vault/secret/{secret}", f"/examples/vault/secret/{secret}/user"
    async with instances(shared_prefix, same_vault, same_vault, alias) as [(_, first), (_, second), (_, aliased)]:
        assert (await first.post(whole, json={"user": "before"})).status_code == 200

        async def read(client: Any, url: str) -> tuple[str, Any]:
            response = await client.get(url)
            assert response.status_code == 200, url
            return response.headers["X-Cache"], await response.get_json()

        assert (await read(first, whole))[0] == "MISS"
        assert (await read(second, whole))[0] == "HIT"  # one Vault, one cached read
        assert (await read(aliased, whole))[0] == "MISS"
        for client in (first, second, aliased):
            assert (await read(client, one_key))[1]["value"] == "before"

        assert (await second.post(whole, json={"user": "after"})).status_code == 200

        for client in (first, aliased):
            cache, body = await read(client, whole)
            assert (cache, body["data"]["user"]) == ("MISS", "after")
            cache, body = await read(client, one_key)
            assert (cache, body["value"]) == ("MISS", "after")
        assert (await read(second, whole))[0] == "HIT"
