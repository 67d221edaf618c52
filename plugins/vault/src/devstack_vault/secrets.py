"""The in-memory cache behind ``devstack_secrets``: what other plugins get as credentials.

A cached secret is answered without touching Vault. Entries older than ``refresh_at``
of the TTL are refreshed by the background loop; an entry past its TTL (the loop could
not refresh it: Vault is down) is still answered, as "stale", and a refresh is started.
A failed refresh keeps the last known value. Only a secret never fetched waits on Vault,
and concurrent callers of the same one share a single fetch.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from devstack.api import ApiError
from devstack_vault.metrics import VaultMetrics

log = logging.getLogger("devstack_vault")

Secret = dict[str, str]
Fetch = Callable[[str], Awaitable[Secret | None]]

REFRESH_AT = 0.6
RETRY_INTERVAL = 1.0
MAX_ENTRIES = 1024


@dataclass
class Entry:
    value: Secret | None
    fetched_at: float


class SecretsCache:
    """Per-application cache of service credentials (None: Vault has no such secret)."""

    def __init__(self, fetch: Fetch, ttl: float, metrics: VaultMetrics) -> None:
        self._fetch_from_vault = fetch
        self.ttl = ttl
        self.metrics = metrics
        self._entries: dict[str, Entry] = {}
        self._inflight: dict[str, asyncio.Future[Secret | None]] = {}
        self._epochs: dict[str, int] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._last_attempt: dict[str, float] = {}

    async def get(self, service: str) -> Secret | None:
        """The credentials of ``service``; waits on Vault only when nothing is cached.

        Raises ``ServiceUnavailable`` when Vault cannot answer and nothing is cached.
        """
        entry = self._entries.get(service)
        if entry is not None:
            if time.monotonic() - entry.fetched_at < self.ttl:
                self.metrics.secret_cache.labels("hit").inc()
            else:
                self.metrics.secret_cache.labels("stale").inc()
                self._refresh_in_background(service)
            return dict(entry.value) if entry.value is not None else None
        self.metrics.secret_cache.labels("miss").inc()
        value = await self._fetch(service)
        return dict(value) if value is not None else None

    def invalidate(self, service: str) -> None:
        """Drop ``service`` (after a write); a fetch already running will not store its answer."""
        self._entries.pop(service, None)
        self._epochs[service] = self._epochs.get(service, 0) + 1

    async def refresh_due(self) -> None:
        """Refresh every entry older than ``REFRESH_AT`` of the TTL (the background loop)."""
        now = time.monotonic()
        due = [name for name, entry in self._entries.items() if now - entry.fetched_at >= REFRESH_AT * self.ttl]
        for name in due:
            try:
                await self._fetch(name)
            except ApiError:
                log.warning("secret refresh failed; keeping the last known value", extra={"service": name})

    async def close(self) -> None:
        tasks = list(self._background) + [f for f in self._inflight.values() if isinstance(f, asyncio.Task)]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _fetch(self, service: str) -> asyncio.Future[Secret | None]:
        running = self._inflight.get(service)
        if running is None:
            running = asyncio.ensure_future(self._load(service, self._epochs.get(service, 0)))
            self._inflight[service] = running
            running.add_done_callback(lambda done: self._finished(service, done))
        return asyncio.shield(running)

    def _finished(self, service: str, done: asyncio.Future[Secret | None]) -> None:
        self._inflight.pop(service, None)
        if not done.cancelled():
            done.exception()  # retrieved here: every caller handles it, none may be left

    async def _load(self, service: str, epoch: int) -> Secret | None:
        value = await self._fetch_from_vault(service)
        if self._epochs.get(service, 0) == epoch:
            self._entries.pop(service, None)
            self._entries[service] = Entry(value, time.monotonic())
            while len(self._entries) > MAX_ENTRIES:
                del self._entries[next(iter(self._entries))]
        return value

    def _refresh_in_background(self, service: str) -> None:
        now = time.monotonic()
        if service in self._inflight or now - self._last_attempt.get(service, 0.0) < RETRY_INTERVAL:
            return
        self._last_attempt[service] = now

        async def refresh() -> None:
            try:
                await self._fetch(service)
            except ApiError:
                log.warning("secret refresh failed; serving the last known value", extra={"service": service})

        task = asyncio.get_running_loop().create_task(refresh())
        self._background.add(task)
        task.add_done_callback(self._background.discard)
