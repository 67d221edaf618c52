"""Core's Prometheus collectors and the /metrics exposition.

With ``PROMETHEUS_MULTIPROC_DIR`` set (``devstack serve --workers N`` sets it), every
worker writes its samples there and the exposition aggregates all workers.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from devstack.kit.breakers import STATE_VALUES

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class CoreMetrics:
    """The http_*, app_info, health_check_* and circuit_breaker_* families."""

    def __init__(self, version: str) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests by method, route template and status",
            ["method", "endpoint", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "HTTP request duration by method and route template",
            ["method", "endpoint"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.in_progress = Gauge(
            "http_requests_in_progress",
            "HTTP requests being served",
            ["method", "endpoint"],
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.app_info = Gauge(
            "app_info",
            "Application name and version (value always 1)",
            ["name", "version"],
            registry=registry,
            multiprocess_mode="max",
        )
        self.app_info.labels(name="devstack", version=version).set(1)
        self.health_status = Gauge(
            "health_check_status",
            "1 when the named health check last passed, else 0",
            ["check"],
            registry=registry,
            multiprocess_mode="mostrecent",
        )
        self.health_duration = Histogram(
            "health_check_duration_seconds",
            "Duration of health probes",
            ["check"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.breaker_state = Gauge(
            "circuit_breaker_state",
            "Circuit breaker state: 0 closed, 1 half-open, 2 open",
            ["service"],
            registry=registry,
            multiprocess_mode="mostrecent",
        )
        self.breaker_transitions = Counter(
            "circuit_breaker_transitions_total",
            "Circuit breaker state changes",
            ["service", "state"],
            registry=registry,
        )

    def breaker_changed(self, service: str, state: str) -> None:
        self.breaker_state.labels(service=service).set(STATE_VALUES.get(state, 0))
        self.breaker_transitions.labels(service=service, state=state).inc()

    def exposition(self) -> bytes:
        """The Prometheus text of this process, or of every worker in multiprocess mode."""
        if multiprocess_dir():
            aggregate = CollectorRegistry()
            MultiProcessCollector(aggregate)  # type: ignore[no-untyped-call]
            return generate_latest(aggregate)
        return generate_latest(self.registry)
