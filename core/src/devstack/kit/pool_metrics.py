"""Prometheus families of a plugin that calls its backend through a connection pool.

``<service>_queries_total{operation,result}``, ``<service>_query_duration_seconds{operation}``
and ``<service>_pool_size``. The collectors are created when core hands the plugin its
registry (``devstack_metrics``); before that, recording is a no-op, so a plugin's service
never depends on the order of its hooks.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from devstack.foundation.errors import ServiceUnavailable
from devstack.kit.operation_metrics import CallSeries, Measured

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


def guard_reason(exc: BaseException) -> str:
    """The reason of the 503 core's guard raised; ``ok`` for anything else."""
    if isinstance(exc, ServiceUnavailable):
        return str((exc.details or {}).get("reason", "unavailable"))
    return "ok"


class PoolCallMetrics:
    """Calls by operation and result (ok, timeout, backend_error, unavailable,
    circuit_open), their duration (pool acquisition included) and the pool's size."""

    def __init__(self, service: str, product: str) -> None:
        self.service = service
        self.product = product
        self.queries: Counter | None = None
        self.duration: Histogram | None = None
        self.pool: Gauge | None = None
        self._series: CallSeries | None = None

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
        self._series = CallSeries(self.queries, self.duration)

    def observe(self, operation: str, result: str, seconds: float) -> None:
        if self._series is not None:
            self._series.observe(operation, result, seconds)

    def measured(self, operation: str, pool_size: Callable[[], int]) -> Measured:
        """Time the block and count it under ``operation``: ``ok``, or the reason of the
        503 core's guard raised (timeout, backend_error, unavailable, circuit_open); then
        record ``pool_size()``."""
        return Measured(self.observe, operation, guard_reason, pool_size, self.pool_size)

    def pool_size(self, size: int) -> None:
        if self.pool is not None:
            self.pool.set(size)
