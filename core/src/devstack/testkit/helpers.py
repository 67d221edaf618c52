"""Waiting and requiring helpers that every plugin's tests repeated.

A backend that is not there fails the test with what to do about it: a skip would let a
run without its services look green.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import socket
import time
from collections.abc import Callable
from typing import Any, overload

import pytest

SERVICES_HINT = "run scripts/services.sh up and source .run/devstack.env"


@overload
def require_env(name: str, /) -> str: ...


@overload
def require_env(first: str, second: str, /, *rest: str) -> dict[str, str]: ...


def require_env(*names: str) -> str | dict[str, str]:
    """The values of environment variables that must be set; a missing one fails the test
    (never a skip). One name gives its value, several a mapping name -> value."""
    missing = [name for name in names if not os.environ.get(name)]
    if missing:
        pytest.fail(f"{', '.join(missing)} not set: {SERVICES_HINT}")
    if len(names) == 1:
        return os.environ[names[0]]
    return {name: os.environ[name] for name in names}


def require_backend(host: str, port: int | str, what: str = "backend", timeout: float = 3.0) -> None:
    """Fail the test unless a TCP connection to ``host:port`` opens (the backend is up)."""
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            return
    except OSError as exc:
        pytest.fail(f"{what} at {host}:{port} does not accept connections ({type(exc).__name__}): {SERVICES_HINT}")


def closed_port() -> int:
    """A local TCP port nothing listens on (bound, then released: connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def eventually(
    check: Callable[[], Any],
    timeout: float = 15.0,
    interval: float = 0.1,
    what: str = "condition",
) -> Any:
    """Call ``check`` (sync or async) until it returns something truthy, and return that;
    fail after ``timeout`` seconds with the last value seen."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout}s (last value: {result!r})")
        await asyncio.sleep(interval)


async def json_of(response: Any) -> Any:
    """The JSON body of a Quart test response or an httpx response."""
    getter = getattr(response, "get_json", None)
    if getter is not None:
        return await getter()
    return response.json()


async def wait_health(client: Any, name: str, status: str = "healthy", timeout: float = 15.0) -> dict[str, Any]:
    """Poll ``GET /health/<name>`` (Quart test client or httpx.AsyncClient) until its body
    says ``status``; return that body. ``/health/<name>`` always answers 200."""
    last: dict[str, Any] = {}

    async def reached() -> bool:
        nonlocal last
        response = await client.get(f"/health/{name}")
        assert response.status_code == 200, f"GET /health/{name} answered {response.status_code}"
        last = await json_of(response)
        return last.get("status") == status

    try:
        await eventually(reached, timeout=timeout, what=f"/health/{name} {status}")
    except AssertionError:
        raise AssertionError(f"/health/{name} did not become {status} within {timeout}s: {last}") from None
    return last


async def metric(client: Any, name: str, **labels: str) -> float:
    """The value of one sample of ``GET /metrics`` (0 when absent)."""
    from prometheus_client.parser import text_string_to_metric_families

    response = await client.get("/metrics")
    data = response.get_data(as_text=True) if hasattr(response, "get_data") else response.text
    text = await data if inspect.isawaitable(data) else data
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0
