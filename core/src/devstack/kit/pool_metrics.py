"""Prometheus families of a plugin that calls its backend through a connection pool.

``<service>_queries_total{operation,result}``, ``<service>_query_duration_seconds{operation}``
and ``<service>_pool_size``. The collectors are created when core hands the plugin its
registry (``devstack_metrics``); before that, recording is a no-op, so a plugin's service
never depends on the order of its hooks.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from devstack.foundation.errors import ServiceUnavailable

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class PoolCallMetrics:
    """Calls by operation and result (ok, timeout, backend_error, unavailable,
    circuit_open), their duration (pool acquisition included) and the pool's size."""

    def __init__(self, service: str, product: str) -> None:
        self.service = service
        self.product = product
        self.queries: Counter | None = None
        self.duration: Histogram | None = None
        self.pool: Gauge | None = None

    def bind(self, registry: CollectorRegistry) -> None:
        """Create the collectors on ``registry`` (once per application)."""
        self.queries = Counter(
            f"{self.service}_queries_total",
            f"{self.product} calls by operation and result (ok, timeout, backend_error, unavailable, circuit_open)",
            ["operation", "result"],
            registry=registry,
        )
        self.duration = Histogram(
            f"{self.service}_query_duration_seconds",
            f"Duration of {self.product} calls, pool acquisition included",
            ["operation"],
            buckets=BUCKETS,
            registry=registry,
        )
        self.pool = Gauge(
            f"{self.service}_pool_size",
            f"Connections open in the {self.product} pool",
            registry=registry,
            multiprocess_mode="livesum",
        )

    def observe(self, operation: str, result: str, seconds: float) -> None:
        if self.queries is not None and self.duration is not None:
            self.queries.labels(operation=operation, result=result).inc()
            self.duration.labels(operation=operation).observe(seconds)

    @asynccontextmanager
    async def measured(self, operation: str, pool_size: Callable[[], int]) -> AsyncIterator[None]:
        """Time the block and count it under ``operation``: ``ok``, or the reason of the
        503 core's guard raised (timeout, backend_error, unavailable, circuit_open); then
        record ``pool_size()``."""
        started = time.perf_counter()
        result = "ok"
        try:
            yield
        except ServiceUnavailable as exc:
            result = str((exc.details or {}).get("reason", "unavailable"))
            raise
        finally:
            self.observe(operation, result, time.perf_counter() - started)
            self.pool_size(pool_size())

    def pool_size(self, size: int) -> None:
        if self.pool is not None:
            self.pool.set(size)
