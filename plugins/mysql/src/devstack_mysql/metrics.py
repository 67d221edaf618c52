"""The plugin's Prometheus collectors: ``mysql_*`` families only.

The collectors are created when core hands over its registry (``devstack_metrics``);
before that, recording is a no-op, so the service never depends on hook order.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class MysqlMetrics:
    """``mysql_queries_total{operation,result}``, ``mysql_query_duration_seconds{operation}``,
    ``mysql_pool_size``."""

    def __init__(self) -> None:
        self.queries: Counter | None = None
        self.duration: Histogram | None = None
        self.pool: Gauge | None = None

    def bind(self, registry: CollectorRegistry) -> None:
        self.queries = Counter(
            "mysql_queries_total",
            "MySQL calls by operation and result (ok, timeout, backend_error, unavailable, circuit_open)",
            ["operation", "result"],
            registry=registry,
        )
        self.duration = Histogram(
            "mysql_query_duration_seconds",
            "Duration of MySQL calls, pool acquisition included",
            ["operation"],
            buckets=BUCKETS,
            registry=registry,
        )
        self.pool = Gauge(
            "mysql_pool_size",
            "Connections open in the MySQL pool",
            registry=registry,
            multiprocess_mode="livesum",
        )

    def observe(self, operation: str, result: str, seconds: float) -> None:
        if self.queries is not None and self.duration is not None:
            self.queries.labels(operation=operation, result=result).inc()
            self.duration.labels(operation=operation).observe(seconds)

    def pool_size(self, size: int) -> None:
        if self.pool is not None:
            self.pool.set(size)
