"""The plugin's Prometheus collectors."""

from __future__ import annotations

from typing import Any, Literal

from prometheus_client import CollectorRegistry, Counter

Store = Literal["examples", "shared"]
Result = Literal["hit", "miss", "set", "delete", "error"]


class RedisMetrics:
    """``redis_cache_operations_total{store, operation, result}``.

    ``store`` is ``examples`` (the /examples/cache endpoints) or ``shared`` (core's
    shared cache); ``result`` is one of hit, miss, set, delete, error.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.operations = Counter(
            "redis_cache_operations_total",
            "Cache operations on Redis by store, operation and result",
            ["store", "operation", "result"],
            registry=registry,
        )

        self._children: dict[tuple[str, str, str], Any] = {}

    def count(self, store: Store, operation: str, result: Result) -> None:
        key = (store, operation, result)
        child = self._children.get(key)
        if child is None:  # labels() takes a lock and builds a tuple: resolve each series once
            child = self._children[key] = self.operations.labels(store=store, operation=operation, result=result)
        child.inc()
