"""Per-client rate limits by class (general, health, metrics) with the ``limits`` library.

The class of a request follows from its path: ``/metrics`` is *metrics*, ``/health`` and
everything under it is *health*, the rest is *general*. The key is the class and the
client address, so each client has one budget per class. Storage is ``limits``' async
memory storage by default (one budget per process, counted without awaits) or any storage
``limits`` opens from a URI, which every worker and every instance share: Redis, for
example (``DEVSTACK_RATE_LIMIT_STORAGE=redis://host:6379/1``, with ``devstack-core[redis]``
installed). Core knows no storage backend: see ``devstack.foundation.storage_uri``.

Headers on every response of a limited class: ``X-RateLimit-Limit`` (requests per
window), ``X-RateLimit-Remaining`` and ``X-RateLimit-Reset`` (Unix time, in whole
seconds, when the window ends). Over the limit: 429 envelope plus ``Retry-After``
(seconds to wait).

A shared storage that fails (down, or slower than ``DEVSTACK_RATE_LIMIT_STORAGE_TIMEOUT``)
never takes requests down: the request is let through without headers (fail open), the failure is counted in
``http_rate_limit_storage_errors_total`` and logged at most once per minute, and the
storage is left alone for a few seconds before it is tried again.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import math
import time

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter, RateLimiter
from limits.storage import storage_from_string
from prometheus_client import CollectorRegistry, Counter

from devstack.foundation.errors import TooManyRequests
from devstack.foundation.settings import CoreSettings
from devstack.foundation.storage_uri import async_uri, storage_class, storage_options

log = logging.getLogger("devstack.ratelimit")

GENERAL, HEALTH, METRICS = "general", "health", "metrics"
LOG_INTERVAL = 60.0
STORAGE_BACKOFF = 5.0
KEY_CACHE_SIZE = 10_000

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def limit_class(path: str) -> str:
    """``metrics`` for /metrics, ``health`` for /health and below, else ``general``."""
    if path == "/metrics":
        return METRICS
    if path == "/health" or path.startswith("/health/"):
        return HEALTH
    return GENERAL


def storage_uri(uri: str) -> str:
    """The async ``limits`` URI for a setting written ``memory://`` or ``redis://...``."""
    return async_uri(uri)


class Decision:
    """The outcome of one hit: headers for the response, and whether it is allowed."""

    __slots__ = ("allowed", "limit", "remaining", "reset")

    def __init__(self, allowed: bool, limit: int, remaining: int, reset: float) -> None:
        self.allowed = allowed
        self.limit = limit
        self.remaining = remaining
        self.reset = reset

    def headers(self) -> dict[str, str]:
        return dict(self.header_list())

    def header_list(self) -> list[tuple[str, str]]:
        return [
            ("X-RateLimit-Limit", str(self.limit)),
            ("X-RateLimit-Remaining", str(self.remaining)),
            ("X-RateLimit-Reset", str(math.ceil(self.reset))),
        ]

    def error(self) -> TooManyRequests:
        retry_after = max(1, math.ceil(self.reset - time.time()))
        headers = self.headers()
        headers["Retry-After"] = str(retry_after)
        return TooManyRequests(
            f"Rate limit exceeded: {self.limit} requests per window; retry after {retry_after} seconds",
            headers=headers,
        )


class ClientAddress:
    """The client's address: the socket peer, or X-Forwarded-For behind a trusted proxy."""

    def __init__(self, trusted_proxies: list[str]) -> None:
        self.networks: list[IpNetwork] = [ipaddress.ip_network(p.strip(), strict=False) for p in trusted_proxies]
        self._trusted_cache: dict[str, bool] = {}

    def trusted(self, address: str) -> bool:
        known = self._trusted_cache.get(address)
        if known is not None:
            return known
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            result = False
        else:
            result = any(ip in network for network in self.networks)
        if len(self._trusted_cache) < 10_000:
            self._trusted_cache[address] = result
        return result

    def of(self, peer: str, forwarded_for: str | None) -> str:
        """Walk X-Forwarded-For from the right past trusted proxies; the first other
        address is the client. Without a trusted peer the header is ignored."""
        if not self.networks or not forwarded_for or not self.trusted(peer):
            return peer
        client = peer
        for hop in reversed([part.strip() for part in forwarded_for.split(",")]):
            try:
                ipaddress.ip_address(hop)
            except ValueError:
                return client
            client = hop
            if not self.trusted(hop):
                return hop
        return client


class LazyExpiryMemoryStorage(MemoryStorage):
    """``limits``' async memory storage, counted without awaits for the fixed window.

    In one process on one event loop an increment cannot interleave with another, so
    ``increment`` does what the parent's ``incr`` does (drop an expired counter, add one,
    start the window on the first hit) without its three awaits and its lock; expired
    counters are already ignored on read, so the sweep (the parent's expiry task) only
    frees memory and runs at most once a second instead of being scheduled per request.
    """

    SWEEP_INTERVAL = 1.0
    next_sweep = 0.0

    def increment(self, key: str, expiry: float, now: float) -> int:
        if self.expirations.get(key, 0) <= now:
            self.storage.pop(key, None)
            self.expirations.pop(key, None)
        count = self.storage[key] + 1
        self.storage[key] = count
        if count == 1:
            self.expirations[key] = now + expiry
        return count

    async def sweep(self, now: float) -> None:
        self.next_sweep = now + self.SWEEP_INTERVAL
        await MemoryStorage._MemoryStorage__schedule_expiry(self)  # type: ignore[attr-defined]

    async def _MemoryStorage__schedule_expiry(self) -> None:
        # the parent's incr (the moving window's calls) sweeps at most once a second too
        now = time.monotonic()
        if now >= self._next_monotonic_sweep:
            self._next_monotonic_sweep = now + self.SWEEP_INTERVAL
            await MemoryStorage._MemoryStorage__schedule_expiry(self)  # type: ignore[attr-defined]

    _next_monotonic_sweep = 0.0


class RateLimiterService:
    """The three classes' limits over one ``limits`` storage."""

    def __init__(self, settings: CoreSettings, registry: CollectorRegistry) -> None:
        self.enabled = settings.rate_limit_enabled
        self.items: dict[str, RateLimitItem] = {
            GENERAL: parse(settings.rate_limit_general),
            HEALTH: parse(settings.rate_limit_health),
            METRICS: parse(settings.rate_limit_metrics),
        }
        self.uri = storage_uri(settings.rate_limit_storage)
        self.fixed_window = settings.rate_limit_strategy == "fixed-window"
        self.prefix = settings.rate_limit_key_prefix
        self.timeout = settings.rate_limit_storage_timeout
        self.storage: Storage | None = None
        self.strategy: RateLimiter | None = None
        self.clients = ClientAddress(settings.trusted_proxies)
        self.storage_errors = Counter(
            "http_rate_limit_storage_errors_total",
            "Rate-limit storage failures (requests let through without a limit)",
            registry=registry,
        )
        self._skip_until = 0.0
        self._last_logged = 0.0
        self._keys: dict[tuple[str, str], str] = {}
        self._memory: LazyExpiryMemoryStorage | None = None
        if self.enabled:
            self._connect()

    def _connect(self) -> None:
        if self.uri.startswith("async+memory"):
            self.storage = LazyExpiryMemoryStorage()
        else:  # any other storage of limits, by its URI (devstack.foundation.storage_uri)
            options = storage_options(storage_class(self.uri), self.prefix)
            storage = storage_from_string(self.uri, wrap_exceptions=True, **options)
            if not isinstance(storage, Storage):  # pragma: no cover - a sync URI
                raise ValueError(f"rate-limit storage {self.uri!r} has no async implementation")
            self.storage = storage
        if self.fixed_window and isinstance(self.storage, LazyExpiryMemoryStorage):
            self._memory = self.storage  # counted in process, without awaits
        strategy_class = FixedWindowRateLimiter if self.fixed_window else MovingWindowRateLimiter
        self.strategy = strategy_class(self.storage)

    def key(self, item: RateLimitItem, klass: str, client: str) -> str:
        """``item.key_for(klass, client)``, remembered for the clients seen lately."""
        cache_key = (klass, client)
        key = self._keys.get(cache_key)
        if key is None:
            if len(self._keys) >= KEY_CACHE_SIZE:
                self._keys.clear()
            key = item.key_for(klass, client)
            self._keys[cache_key] = key
        return key

    def describe(self) -> str:
        """The storage's scheme, for the root document and logs (no credentials)."""
        return self.uri.split("://", 1)[0].removeprefix("async+")

    async def hit(self, klass: str, client: str) -> Decision | None:
        """Count one request of ``client`` in ``klass``; None when the storage failed."""
        if self.storage is None or self.strategy is None:
            return None
        now = time.time()
        item = self.items[klass]
        memory = self._memory
        if memory is not None:  # in-process fixed window: no storage call to wait for
            key = self.key(item, klass, client)
            count = memory.increment(key, item.get_expiry(), now)
            if now >= memory.next_sweep:
                await memory.sweep(now)
            reset = memory.expirations.get(key, now)
            return Decision(count <= item.amount, item.amount, max(0, item.amount - count), reset)
        if now < self._skip_until:
            self.storage_errors.inc()
            return None
        try:  # a shared storage: every call bounded, whatever its client's own timeouts
            async with asyncio.timeout(self.timeout):
                return await self._shared_hit(item, klass, client)
        except Exception as exc:  # noqa: BLE001 - fail open on any storage failure (and the timeout)
            self._failed(now, exc)
            return None

    async def _shared_hit(self, item: RateLimitItem, klass: str, client: str) -> Decision:
        assert self.storage is not None and self.strategy is not None
        if self.fixed_window:
            # one increment and one expiry read: the fixed-window strategy's
            # hit() and get_window_stats() without its extra read
            key = self.key(item, klass, client)
            count = await self.storage.incr(key, item.get_expiry())
            reset = await self.storage.get_expiry(key)
            return Decision(count <= item.amount, item.amount, max(0, item.amount - count), reset)
        allowed = await self.strategy.hit(item, klass, client)
        stats = await self.strategy.get_window_stats(item, klass, client)
        return Decision(allowed, item.amount, stats.remaining, stats.reset_time)

    def _failed(self, now: float, exc: BaseException) -> None:
        self.storage_errors.inc()
        self._skip_until = now + STORAGE_BACKOFF
        if now - self._last_logged >= LOG_INTERVAL:
            self._last_logged = now
            log.error(
                "rate-limit storage failed; requests are let through",
                extra={"storage": self.describe(), "error_type": type(exc).__name__},
            )

    async def reset(self) -> None:
        """Forget every counter (tests)."""
        if self.storage is not None:
            await self.storage.reset()

    async def close(self) -> None:
        storage = self.storage
        bridge = getattr(storage, "bridge", None)
        client = getattr(bridge, "storage", None)
        close = getattr(client, "aclose", None)
        if close is not None:
            try:
                await close()
            except Exception:  # noqa: BLE001 - closing a dead connection
                pass
