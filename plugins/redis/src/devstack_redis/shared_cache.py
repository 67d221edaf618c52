"""Core's shared cache in Redis (``devstack_cache_backend``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing, asynccontextmanager

from devstack.api import CacheUnavailable, ServiceUnavailable
from devstack_redis.keyspace import as_bytes, escape_glob, scan_batches
from devstack_redis.service import SERVICE, DataClient, RedisService

UNLINK_BATCH = 500


class RedisCache:
    """``devstack.api.CacheBackend`` on the plugin's data client.

    Every key is stored under ``REDIS_KEY_PREFIX``. Calls go through the ``redis``
    circuit breaker with a short timeout (``REDIS_CACHE_TIMEOUT``); any failure leaves
    as ``CacheUnavailable`` so that callers bypass the cache.
    """

    name = "redis"

    def __init__(self, service: RedisService) -> None:
        self._service = service
        self._prefix = service.settings.key_prefix

    @asynccontextmanager
    async def _client(self, operation: str) -> AsyncIterator[DataClient]:
        """The data client inside the ``redis`` guard, the call counted and timed as
        ``shared_<operation>``; any failure becomes CacheUnavailable."""
        try:
            async with self._service.metrics.measured(f"shared_{operation}"):
                client = self._service.data()
                async with self._service.host.backend(SERVICE, timeout=self._service.settings.cache_timeout):
                    yield client
        except ServiceUnavailable:
            raise CacheUnavailable("redis") from None

    async def get(self, key: str) -> bytes | None:
        async with self._client("get") as client:
            value = await client.get(self._prefix + key)
        self._service.metrics.lookup("shared", value is not None)
        return None if value is None else as_bytes(value)

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        async with self._client("set") as client:
            if ttl <= 0:
                await client.unlink(self._prefix + key)
            else:
                await client.set(self._prefix + key, value, px=max(1, int(ttl * 1000)))

    async def delete(self, *keys: str) -> int:
        if not keys:
            return 0
        async with self._client("delete") as client:
            return int(await client.unlink(*(self._prefix + key for key in keys)))

    async def delete_prefix(self, prefix: str) -> int:
        """SCAN every primary for the prefix and UNLINK what it finds, in batches."""
        removed = 0
        async with self._client("delete_prefix") as client:
            match = escape_glob(self._prefix + prefix) + "*"
            pending: list[bytes] = []
            async with aclosing(scan_batches(client, match, self._service.settings.scan_count)) as batches:
                async for batch in batches:
                    pending.extend(batch)
                    if len(pending) >= UNLINK_BATCH:
                        removed += int(await client.unlink(*pending))
                        pending.clear()
            if pending:
                removed += int(await client.unlink(*pending))
        return removed
