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
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

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


class OperationMetrics:
    """A plugin's calls by operation and result, their duration and (``pooled``) its pool size."""

    def __init__(self, plugin: str, product: str, *, pooled: bool = False) -> None:
        self.plugin = plugin
        self.product = product
        self.pooled = pooled
        self.operations: Counter | None = None
        self.duration: Histogram | None = None
        self.pool: Gauge | None = None

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

    def observe(self, operation: str, result: str, seconds: float) -> None:
        """Count one call of ``operation`` with ``result`` that took ``seconds``."""
        if self.operations is not None and self.duration is not None:
            self.operations.labels(operation=operation, result=result).inc()
            self.duration.labels(operation=operation).observe(seconds)

    @asynccontextmanager
    async def measured(self, operation: str, pool_size: Callable[[], int] | None = None) -> AsyncIterator[None]:
        """Time the block and count it under ``operation`` with its result (see :func:`result_of`);
        then record ``pool_size()`` when given."""
        started = time.perf_counter()
        result = "ok"
        try:
            yield
        except BaseException as exc:
            result = result_of(exc)
            raise
        finally:
            self.observe(operation, result, time.perf_counter() - started)
            if pool_size is not None:
                self.pool_size(pool_size())

    def pool_size(self, size: int) -> None:
        """Record the number of connections the pool holds."""
        if self.pool is not None:
            self.pool.set(size)
