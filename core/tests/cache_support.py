"""A memory shared cache that remembers its writes, for the cache tests of core."""

from __future__ import annotations

from devstack.api import MemoryCache


class RecordingCache(MemoryCache):
    """A memory cache that remembers every key written to it."""

    name = "recording"

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        self.writes.append(key)
        await super().set(key, value, ttl)
