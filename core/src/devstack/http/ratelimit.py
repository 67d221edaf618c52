"""Per-client rate limits by class (general, health, metrics) with the ``limits`` library.

The class of a request follows from its path: ``/metrics`` is *metrics*, ``/health`` and
everything under it is *health*, the rest is *general*. The key is the class and the
client address, so each client has one budget per class. Storage is ``limits``' async
memory storage by default (one budget per process) or Redis
(``DEVSTACK_RATE_LIMIT_STORAGE=redis://host:6379/1``), which every worker and every
instance share.

Headers on every response of a limited class: ``X-RateLimit-Limit`` (requests per
window), ``X-RateLimit-Remaining`` and ``X-RateLimit-Reset`` (Unix time, in whole
seconds, when the window ends). Over the limit: 429 envelope plus ``Retry-After``
(seconds to wait).

A storage that fails (Redis down, too slow) never takes requests down: the request is
let through without headers (fail open), the failure is counted in
``http_rate_limit_storage_errors_total`` and logged at most once per minute, and the
storage is left alone for a few seconds before it is tried again.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from typing import Any

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter, RateLimiter
from limits.storage import storage_from_string
from prometheus_client import CollectorRegistry, Counter

from devstack.foundation.errors import TooManyRequests
from devstack.foundation.settings import CoreSettings

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
    if uri.startswith("async+"):
        return uri
    return f"async+{uri}"


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
    """``limits``' async memory storage, sweeping expired keys at most once a second.

    The parent schedules its sweep task on every increment (one task per request);
    expired counters are already ignored on read, so the sweep only frees memory.
    """

    SWEEP_INTERVAL = 1.0
    _next_sweep = 0.0

    async def _MemoryStorage__schedule_expiry(self) -> None:
        now = time.monotonic()
        if now >= self._next_sweep:
            self._next_sweep = now + self.SWEEP_INTERVAL
            await MemoryStorage._MemoryStorage__schedule_expiry(self)  # type: ignore[attr-defined]


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
        self._memory_expirations: dict[str, float] | None = None
        if self.enabled:
            self._connect()

    def _connect(self) -> None:
        options: dict[str, Any] = {}
        if self.uri.startswith("async+memory"):
            self.storage = LazyExpiryMemoryStorage()
        else:
            if "redis" in self.uri:
                options = {
                    "implementation": "redispy",
                    "key_prefix": self.prefix,
                    "socket_timeout": self.timeout,
                    "socket_connect_timeout": self.timeout,
                }
            storage = storage_from_string(self.uri, wrap_exceptions=True, **options)
            if not isinstance(storage, Storage):  # pragma: no cover - a sync URI
                raise ValueError(f"rate-limit storage {self.uri!r} has no async implementation")
            self.storage = storage
        if isinstance(self.storage, MemoryStorage):
            # the memory storage's expiry read is a dict lookup: done without an await
            self._memory_expirations = self.storage.expirations
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
        if now < self._skip_until:
            self.storage_errors.inc()
            return None
        item = self.items[klass]
        try:  # Redis calls are bounded by the client's socket timeouts
            if self.fixed_window:
                # one increment and one expiry read: the fixed-window strategy's
                # hit() and get_window_stats() without its extra read
                key = self.key(item, klass, client)
                count = await self.storage.incr(key, item.get_expiry())
                expirations = self._memory_expirations
                if expirations is not None:
                    reset = expirations.get(key, now)
                else:
                    reset = await self.storage.get_expiry(key)
                return Decision(count <= item.amount, item.amount, max(0, item.amount - count), reset)
            allowed = await self.strategy.hit(item, klass, client)
            stats = await self.strategy.get_window_stats(item, klass, client)
            return Decision(allowed, item.amount, stats.remaining, stats.reset_time)
        except Exception as exc:  # noqa: BLE001 - fail open on any storage failure
            self.storage_errors.inc()
            self._skip_until = now + STORAGE_BACKOFF
            if now - self._last_logged >= LOG_INTERVAL:
                self._last_logged = now
                log.error(
                    "rate-limit storage failed; requests are let through",
                    extra={"storage": self.describe(), "error_type": type(exc).__name__},
                )
            return None

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
