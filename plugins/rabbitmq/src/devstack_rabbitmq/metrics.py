"""The plugin's Prometheus collectors (one set per application registry)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

PUBLISH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class RabbitMQMetrics:
    """``rabbitmq_messages_published_total{result}``, ``rabbitmq_messages_consumed_total``,
    ``rabbitmq_publish_duration_seconds``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.published = Counter(
            "rabbitmq_messages_published_total",
            "Messages published through the API, by result (confirmed, failed)",
            ["result"],
            registry=registry,
        )
        self.consumed = Counter(
            "rabbitmq_messages_consumed_total",
            "Messages taken from queues and acknowledged through the API",
            registry=registry,
        )
        self.publish_duration = Histogram(
            "rabbitmq_publish_duration_seconds",
            "Time from publish to the broker's confirm (including a first declare)",
            buckets=PUBLISH_BUCKETS,
            registry=registry,
        )
        # The labelled children, resolved once: labels() takes a lock on every call.
        self.publish_confirmed = self.published.labels("confirmed")
        self.publish_failed = self.published.labels("failed")
