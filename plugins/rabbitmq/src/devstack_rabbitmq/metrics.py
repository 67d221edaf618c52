"""The plugin's Prometheus collectors (one set per application registry).

Every call to the broker is counted and timed in core's scheme (``OperationMetrics``):
``rabbitmq_operations_total{operation, result}`` and
``rabbitmq_operation_duration_seconds{operation}``, ``operation`` one of :data:`OPERATIONS`
(a publish is timed until the broker's confirm, a first declare included). Messages are
counted apart, since one consume takes many: ``rabbitmq_messages_published_total``
(confirmed by the broker) and ``rabbitmq_messages_consumed_total`` (taken and acknowledged).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from devstack.api import OperationMetrics

OPERATIONS = ("publish", "queue_info", "consume", "list_queues")


class RabbitMQMetrics:
    """The plugin's collectors; recording is a no-op until :meth:`bind`."""

    def __init__(self) -> None:
        self.calls = OperationMetrics("rabbitmq", "RabbitMQ")
        self._published: Counter | None = None
        self._consumed: Counter | None = None

    def bind(self, registry: CollectorRegistry) -> None:
        """Create the collectors on the application's registry (``devstack_metrics``)."""
        self.calls.bind(registry)
        self._published = Counter(
            "rabbitmq_messages_published",
            "Messages published through the API and confirmed by the broker",
            registry=registry,
        )
        self._consumed = Counter(
            "rabbitmq_messages_consumed",
            "Messages taken from queues and acknowledged through the API",
            registry=registry,
        )

    def published(self) -> None:
        """Count one message the broker confirmed."""
        if self._published is not None:
            self._published.inc()

    def consumed(self, count: int) -> None:
        """Count ``count`` messages taken and acknowledged."""
        if self._consumed is not None and count:
            self._consumed.inc(count)
