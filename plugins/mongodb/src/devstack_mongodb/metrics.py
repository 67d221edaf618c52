"""The plugin's Prometheus families (all prefixed ``mongodb_``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class MongoMetrics:
    """Backend calls by operation and result, and their duration."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.operations = Counter(
            "mongodb_operations_total",
            "MongoDB calls by operation and result (success, timeout, backend_error, unavailable, circuit_open)",
            ["operation", "result"],
            registry=registry,
        )
        self.duration = Histogram(
            "mongodb_operation_duration_seconds",
            "Duration of MongoDB calls by operation",
            ["operation"],
            buckets=BUCKETS,
            registry=registry,
        )

    def observe(self, operation: str, result: str, seconds: float) -> None:
        self.operations.labels(operation=operation, result=result).inc()
        self.duration.labels(operation=operation).observe(seconds)
