"""The one metrics scheme of plugins: every call a plugin makes to its backend, measured.

``<plugin>_operations_total{operation,result}``, ``<plugin>_operation_duration_seconds{operation}``
and, for a plugin with a connection pool, ``<plugin>_pool_size``. ``operation`` is a name
the plugin chooses from a fixed set (never request text); ``result`` is one of
:data:`RESULTS`. The collectors are created when core hands the plugin its registry
(``devstack_metrics``); before that recording is a no-op, so a plugin's service never
depends on the order of its hooks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from devstack.foundation.errors import ApiError, ServiceUnavailable

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

RESULTS = ("ok", "rejected", "timeout", "backend_error", "unavailable", "circuit_open", "error")
"""``ok``; ``rejected``: the call refused the request (a 4xx, never a backend failure);
the reason of a 503 from core's guard (timeout, backend_error, unavailable, circuit_open);
``error``: anything else."""


def result_of(exc: BaseException) -> str:
    """The ``result`` label for a call that raised ``exc``."""
    if isinstance(exc, ServiceUnavailable):
        reason = str((exc.details or {}).get("reason", "unavailable"))
        return reason if reason in RESULTS else "unavailable"
    if isinstance(exc, ApiError) and exc.status_code < 500:
        return "rejected"
    return "error"


Record = Callable[[str, str, float], None]


class CallSeries:
    """The children of a calls counter ``{operation, result}`` and a duration histogram
    ``{operation}``, each resolved once: ``labels()`` takes a lock and builds a tuple on
    every call, on every backend call of every request. Label values come from fixed sets."""

    __slots__ = ("_counted", "_counter", "_durations", "_histogram")

    def __init__(self, counter: Counter, histogram: Histogram) -> None:
        self._counter = counter
        self._histogram = histogram
        self._counted: dict[tuple[str, str], Any] = {}
        self._durations: dict[str, Any] = {}

    def observe(self, operation: str, result: str, seconds: float) -> None:
        counted = self._counted.get((operation, result))
        if counted is None:
            counted = self._counted[(operation, result)] = self._counter.labels(operation=operation, result=result)
        counted.inc()
        duration = self._durations.get(operation)
        if duration is None:
            duration = self._durations[operation] = self._histogram.labels(operation=operation)
        duration.observe(seconds)


class Measured:
    """``async with``: the block timed and recorded under ``operation`` with its result
    (``result_of`` the exception that left it, ``ok`` without one), then ``pool_size()``
    recorded when given. A class, not a generator context manager: it is entered on
    every backend call, and this costs a fraction of one."""

    __slots__ = ("_operation", "_pool_size", "_record", "_record_pool", "_result_of", "_started")

    def __init__(
        self,
        record: Record,
        operation: str,
        result_of: Callable[[BaseException], str],
        pool_size: Callable[[], int] | None = None,
        record_pool: Callable[[int], None] | None = None,
    ) -> None:
        self._record = record
        self._operation = operation
        self._result_of = result_of
        self._pool_size = pool_size
        self._record_pool = record_pool
        self._started = 0.0

    async def __aenter__(self) -> None:
        self._started = time.perf_counter()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        result = "ok" if exc is None else self._result_of(exc)
        self._record(self._operation, result, time.perf_counter() - self._started)
        if self._pool_size is not None and self._record_pool is not None:
            self._record_pool(self._pool_size())


class OperationMetrics:
    """A plugin's calls by operation and result, their duration and (``pooled``) its pool size."""

    def __init__(self, plugin: str, product: str, *, pooled: bool = False) -> None:
        self.plugin = plugin
        self.product = product
        self.pooled = pooled
        self.operations: Counter | None = None
        self.duration: Histogram | None = None
        self.pool: Gauge | None = None
        self._series: CallSeries | None = None

    def bind(self, registry: CollectorRegistry) -> None:
        """Create the collectors on ``registry`` (once per application, from ``devstack_metrics``)."""
        self.operations = Counter(
            f"{self.plugin}_operations_total",
            f"{self.product} calls by operation and result ({', '.join(RESULTS)})",
            ["operation", "result"],
            registry=registry,
        )
        self.duration = Histogram(
            f"{self.plugin}_operation_duration_seconds",
            f"Duration of {self.product} calls" + (", pool acquisition included" if self.pooled else ""),
            ["operation"],
            buckets=BUCKETS,
            registry=registry,
        )
        if self.pooled:
            self.pool = Gauge(
                f"{self.plugin}_pool_size",
                f"Connections open in the {self.product} pool",
                registry=registry,
                multiprocess_mode="livesum",
            )
        self._series = CallSeries(self.operations, self.duration)

    def observe(self, operation: str, result: str, seconds: float) -> None:
        """Count one call of ``operation`` with ``result`` that took ``seconds``."""
        if self._series is not None:
            self._series.observe(operation, result, seconds)

    def measured(self, operation: str, pool_size: Callable[[], int] | None = None) -> Measured:
        """Time the block and count it under ``operation`` with its result (see :func:`result_of`);
        then record ``pool_size()`` when given."""
        return Measured(self.observe, operation, result_of, pool_size, self.pool_size)

    def pool_size(self, size: int) -> None:
        """Record the number of connections the pool holds."""
        if self.pool is not None:
            self.pool.set(size)
