"""The plugins' metrics scheme: every result of a measured call lands under one bounded label."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from devstack.api import BadRequest, OperationMetrics, ServiceUnavailable


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


async def test_results_are_counted_by_operation_and_reason() -> None:
    registry = CollectorRegistry()
    metrics = OperationMetrics("widget", "Widget", pooled=True)
    metrics.bind(registry)
    async with metrics.measured("insert", pool_size=lambda: 3):
        pass
    with pytest.raises(BadRequest):
        async with metrics.measured("insert"):
            raise BadRequest("no")
    with pytest.raises(ServiceUnavailable):
        async with metrics.measured("insert"):
            raise ServiceUnavailable("widget", reason="timeout")
    with pytest.raises(RuntimeError):
        async with metrics.measured("page"):
            raise RuntimeError("bug")
    assert sample(registry, "widget_operations_total", operation="insert", result="ok") == 1
    assert sample(registry, "widget_operations_total", operation="insert", result="rejected") == 1
    assert sample(registry, "widget_operations_total", operation="insert", result="timeout") == 1
    assert sample(registry, "widget_operations_total", operation="page", result="error") == 1
    assert sample(registry, "widget_operation_duration_seconds_count", operation="insert") == 3
    assert sample(registry, "widget_pool_size") == 3


async def test_recording_before_bind_is_a_no_op_and_unpooled_has_no_gauge() -> None:
    metrics = OperationMetrics("widget", "Widget")
    async with metrics.measured("ping"):
        pass
    registry = CollectorRegistry()
    metrics.bind(registry)
    names = {family.name for family in registry.collect()}
    assert names == {"widget_operations", "widget_operation_duration_seconds"}
