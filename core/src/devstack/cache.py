"""The shared cache's interface and core's in-process default."""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Protocol, runtime_checkable


class CacheUnavailable(Exception):
    """The shared cache's backend cannot be reached; callers bypass the cache."""


@runtime_checkable
class CacheBackend(Protocol):
    """What ``devstack_cache_backend`` returns and ``host.cache`` is.

    Values are bytes; ``ttl`` is in seconds. Every method raises ``CacheUnavailable``
    (and nothing else) when the backend cannot be reached.
    """

    name: str

    async def get(self, key: str) -> bytes | None:
        """The value stored under ``key``, or None."""
        ...

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds."""
        ...

    async def delete(self, *keys: str) -> int:
        """Remove the keys; returns how many existed."""
        ...

    async def delete_prefix(self, prefix: str) -> int:
        """Remove every key starting with ``prefix``; returns how many existed."""
        ...


class MemoryCache:
    """A bounded in-process LRU with per-entry expiry (core's default shared cache)."""

    name = "memory"

    def __init__(self, max_entries: int = 10_000) -> None:
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._max_entries = max_entries

    async def get(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires_at, value = entry
        if expires_at <= time.monotonic():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        if ttl <= 0:
            self._entries.pop(key, None)
            return
        self._entries[key] = (time.monotonic() + ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    async def delete(self, *keys: str) -> int:
        return sum(1 for key in keys if self._entries.pop(key, None) is not None)

    async def delete_prefix(self, prefix: str) -> int:
        doomed = [key for key in self._entries if key.startswith(prefix)]
        return await self.delete(*doomed)
