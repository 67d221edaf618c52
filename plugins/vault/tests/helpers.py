"""Small helpers shared by the tests."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any

from devstack_vault.plugin import service_of
from devstack_vault.service import VaultService
from prometheus_client.parser import text_string_to_metric_families
from quart.testing import QuartClient

from devstack.testing import host_of


def vault_service(app: Any) -> VaultService:
    return service_of(host_of(app))


async def metric(client: QuartClient, name: str, **labels: str) -> float:
    """The value of one sample of GET /metrics (0 when absent)."""
    response = await client.get("/metrics")
    text = await response.get_data(as_text=True)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


async def eventually(check: Callable[[], bool | Awaitable[bool]], timeout: float = 20.0, interval: float = 0.2) -> None:
    """Wait until ``check()`` (sync or async) is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)
