"""The /examples/cache operations: GET/SET/DELETE of one key and the pattern search.

Keys live under ``REDIS_EXAMPLES_PREFIX`` (``cache:`` by default) so that they never
mix with the shared cache's keys; answers show them without the prefix.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from redis.commands.core import AsyncScript

from devstack_redis.keyspace import escape_glob, find_keys
from devstack_redis.service import SERVICE, DataClient, RedisService

NO_EXPIRATION = "no expiration"
# One round trip instead of two (or a cluster pipeline, which costs more in redis-py).
GET_WITH_TTL = "return {redis.call('GET', KEYS[1]), redis.call('TTL', KEYS[1])}"


def text(value: bytes | str) -> str:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value


class CacheExamples:
    """What the cache example endpoints do, on the plugin's data client."""

    def __init__(self, service: RedisService) -> None:
        self._service = service
        self._prefix = service.settings.examples_prefix
        self._script: tuple[DataClient, AsyncScript] | None = None

    @asynccontextmanager
    async def _client(self, operation: str, timeout: float | None = None) -> AsyncIterator[DataClient]:
        """The data client inside the ``redis`` backend guard, the call counted and timed
        as ``examples_<operation>``.

        A client that does not exist yet answers 503 without touching the circuit breaker.
        """
        async with self._service.metrics.measured(f"examples_{operation}"):
            client = self._service.data()
            async with self._service.host.backend(SERVICE, timeout=timeout):
                yield client

    def _get_with_ttl(self, client: DataClient) -> AsyncScript:
        """GET and TTL of one key in one round trip (EVALSHA, loaded on first use)."""
        if self._script is None or self._script[0] is not client:
            self._script = (client, client.register_script(GET_WITH_TTL))
        return self._script[1]

    async def get(self, key: str) -> dict[str, Any]:
        async with self._client("get") as client:
            value, ttl = await self._get_with_ttl(client)(keys=[self._prefix + key])
        found = value is not None and ttl != -2
        self._service.metrics.lookup("examples", found)
        if not found:
            return {"key": key, "value": None, "exists": False, "ttl": None}
        return {"key": key, "value": text(value), "exists": True, "ttl": NO_EXPIRATION if ttl < 0 else int(ttl)}

    async def set(self, key: str, value: str, ttl: int | None) -> dict[str, Any]:
        async with self._client("set") as client:
            await client.set(self._prefix + key, value.encode(), ex=ttl)
        return {"key": key, "value": value, "ttl": ttl, "action": "set"}

    async def delete(self, key: str) -> dict[str, Any]:
        async with self._client("delete") as client:
            removed = await client.unlink(self._prefix + key)
        return {"key": key, "deleted": int(removed) > 0, "action": "delete"}

    async def search(self, pattern: str, limit: int) -> dict[str, Any]:
        """SCAN MATCH over every primary, bounded by ``limit`` and ``REDIS_SEARCH_BUDGET``.

        The pattern's alphabet (letters, digits, ``_ : . -``, ``*`` and ``?``) has no way
        to escape the examples prefix.
        """
        settings = self._service.settings
        bound = settings.search_budget + settings.socket_timeout + settings.connect_timeout
        async with self._client("search", timeout=bound) as client:
            raw, truncated = await find_keys(
                client, escape_glob(self._prefix) + pattern, limit, settings.scan_count, settings.search_budget
            )
        keys = sorted(text(key)[len(self._prefix) :] for key in raw)
        self._service.metrics.lookup("examples", bool(keys))
        return {"pattern": pattern, "keys": keys, "count": len(keys), "truncated": truncated}
