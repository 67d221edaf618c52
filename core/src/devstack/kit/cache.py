"""The shared cache's interface, core's in-process default, and owned views of it.

The shared cache may be one Redis used by many devstack instances, so nobody writes a
bare key: ``host.cache_for(owner)`` gives an ``OwnedCache`` whose keys all start with
``<owner>:`` (``core`` or the plugin's name), and each owner puts into the rest of the
key whatever makes the cached answer valid (see docs/production.md, "Shared cache").
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, runtime_checkable

from devstack.foundation.single_flight import SingleFlight

CORE_OWNER = "core"
"""The owner name of core's own routes, checks and cache keys."""

OWNER_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,50}$")


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


def fingerprint(value: Any) -> str:
    """A short stable digest of a JSON-able value (settings, a set of names) for a cache key.

    16 hex characters of SHA-256 over canonical JSON: the same value gives the same
    digest in every process and instance.
    """
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


class OwnedCache:
    """The shared cache as one owner sees it: every key is stored as ``<owner>:<key>``.

    ``backend`` is looked up at every call, because the provider's cache replaces the
    memory default only after the plugins' build-time hooks have run. A backend that is
    down (``CacheUnavailable``) is bypassed, never fatal.
    """

    def __init__(self, owner: str, backend: Callable[[], CacheBackend]) -> None:
        if not OWNER_NAME.match(owner):
            raise ValueError(f"invalid shared-cache owner {owner!r}: 1-50 characters of [a-zA-Z0-9_-]")
        self.owner = owner
        self.namespace = f"{owner}:"
        self._backend = backend
        self._misses: SingleFlight[tuple[Any, float | None]] = SingleFlight()

    def key(self, key: str) -> str:
        """The key as stored in the backend (before the backend's own prefix)."""
        return self.namespace + key

    async def cached_json(
        self, key: str, ttl: float, produce: Callable[[], Awaitable[Any]]
    ) -> tuple[Any, float | None]:
        """A JSON value from the shared cache, produced and stored on a miss.

        Returns ``(value, age_seconds)``; age is None on a miss. ``ttl`` 0 stores (and reads)
        nothing. Concurrent misses of one key in this process share one ``produce``, so a
        cold key costs one production however many callers arrive (no stampede).
        """
        stored_key = self.key(key)
        if ttl > 0:
            found = await self._read(stored_key)
            if found is not None:
                return found
        return await self._misses.run(stored_key, lambda: self._produce_and_store(stored_key, ttl, produce))

    async def _read(self, stored_key: str) -> tuple[Any, float] | None:
        try:
            raw = await self._backend().get(stored_key)
        except CacheUnavailable:
            return None
        if raw is None:
            return None
        stored = json.loads(raw)
        return stored["value"], max(0.0, time.time() - stored["at"])

    async def _produce_and_store(
        self, stored_key: str, ttl: float, produce: Callable[[], Awaitable[Any]]
    ) -> tuple[Any, float | None]:
        if ttl > 0:
            # read again: a caller whose read missed just before the last flight stored
            # its value must not start a second production in the same cache period
            found = await self._read(stored_key)
            if found is not None:
                return found
        value = await produce()
        if ttl > 0:
            try:
                await self._backend().set(stored_key, json.dumps({"at": time.time(), "value": value}).encode(), ttl)
            except CacheUnavailable:
                pass
        return value, None

    async def invalidate(self, *keys: str, prefix: str | None = None) -> None:
        """Drop cached entries (the keys, and every key starting with ``prefix``), for
        every instance that shares the backend; a cache that is down is ignored."""
        backend = self._backend()
        try:
            if keys:
                await backend.delete(*(self.key(key) for key in keys))
            if prefix:
                await backend.delete_prefix(self.key(prefix))
        except CacheUnavailable:
            pass
