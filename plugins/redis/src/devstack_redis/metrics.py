"""The plugin's Prometheus collectors.

Every call to Redis is counted and timed in core's scheme (``OperationMetrics``):
``redis_operations_total{operation, result}`` and ``redis_operation_duration_seconds{operation}``,
``operation`` one of :data:`OPERATIONS`. Key reads also count what they found in
``redis_cache_lookups_total{store, result}`` (``store``: ``examples`` or ``shared``;
``result``: ``hit`` or ``miss``), which a call's result does not say.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any, Literal

from prometheus_client import CollectorRegistry, Counter

from devstack.api import OperationMetrics

Store = Literal["examples", "shared"]

OPERATIONS = (
    "examples_get",
    "examples_set",
    "examples_delete",
    "examples_search",
    "shared_get",
    "shared_set",
    "shared_delete",
    "shared_delete_prefix",
    "cluster_nodes",
    "cluster_slots",
    "cluster_info",
    "node_info",
)


class RedisMetrics:
    """The plugin's collectors; recording is a no-op until :meth:`bind`."""

    def __init__(self) -> None:
        self.calls = OperationMetrics("redis", "Redis")
        self.lookups: Counter | None = None
        self._children: dict[tuple[str, str], Any] = {}

    def bind(self, registry: CollectorRegistry) -> None:
        """Create the collectors on the application's registry (``devstack_metrics``)."""
        self.calls.bind(registry)
        self.lookups = Counter(
            "redis_cache_lookups_total",
            "Key reads on Redis by store (examples, shared) and result (hit, miss)",
            ["store", "result"],
            registry=registry,
        )
        self._children = {}

    def measured(self, operation: str) -> AbstractAsyncContextManager[None]:
        """Count and time the block as one call of ``operation`` (one of OPERATIONS)."""
        return self.calls.measured(operation)

    def lookup(self, store: Store, hit: bool) -> None:
        """Count one key read of ``store`` that found its key (``hit``) or not."""
        if self.lookups is None:
            return
        key = (store, "hit" if hit else "miss")
        child = self._children.get(key)
        if child is None:  # labels() takes a lock and builds a tuple: resolve each series once
            child = self._children[key] = self.lookups.labels(store=key[0], result=key[1])
        child.inc()
