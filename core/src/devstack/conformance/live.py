"""The rules judged on a running plugin: its health body, its metrics, and a startup and
shutdown that leave nothing behind."""

from __future__ import annotations

import asyncio
import os
import time
import urllib.request
from collections.abc import Iterable, Mapping
from typing import Any

from devstack.conformance.exchanges import Exchange
from devstack.testing import running_app

HEALTH_STATUSES = ("healthy", "unhealthy")
MAX_SERIES = 200
"""Most series one plugin metric family may hold after the suite's requests."""
MIN_ECHOED = 6
"""Shorter request values are not looked for in label values (they would match by chance)."""


def get_json(url: str, timeout: float = 10.0) -> tuple[int, Any]:
    import json
    import urllib.error

    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, None
    except (OSError, ValueError) as exc:
        return 0, f"no JSON answer ({type(exc).__name__})"


def health_names(owned: Iterable[str]) -> list[str]:
    """The plugin's health checks: its ``GET /health/<name>`` routes."""
    return sorted(key.removeprefix("GET /health/") for key in owned if key.startswith("GET /health/"))


def health_shape(name: str, status: int, body: Any) -> str | None:
    if status != 200:
        return f"GET /health/{name} answered {status} (it always answers 200)"
    if not isinstance(body, dict) or body.get("status") not in HEALTH_STATUSES:
        return f"GET /health/{name}: the body has no status healthy|unhealthy: {str(body)[:200]}"
    if "error" in body and not isinstance(body["error"], str):
        return f"GET /health/{name}: error is not a string"
    return None


def await_health(base_url: str, name: str, wanted: str, timeout: float) -> list[str]:
    """Poll ``/health/<name>`` until it says ``wanted``; the findings if it never does."""
    deadline = time.monotonic() + timeout
    while True:
        status, body = get_json(f"{base_url}/health/{name}")
        problem = health_shape(name, status, body)
        if problem:
            return [problem]
        if body["status"] == wanted:
            return []
        if "invalid answer" in str(body.get("error", "")):  # core replaced a probe's answer it could not use
            return [f"GET /health/{name}: {body['error']} (a body whose status is healthy or unhealthy)"]
        if time.monotonic() > deadline:
            return [f"GET /health/{name} did not say {wanted} within {timeout:g} s: {str(body)[:200]}"]
        time.sleep(0.25)


def metric_text(base_url: str) -> str:
    with urllib.request.urlopen(f"{base_url}/metrics", timeout=10) as answer:
        return str(answer.read().decode("utf-8"))


def sent_values(sent: Iterable[Exchange]) -> set[str]:
    """Every string the suite's requests carried in a path, query or body."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, str) and len(value) >= MIN_ECHOED:
            found.add(value)
        elif isinstance(value, Mapping):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for exchange in sent:
        case = exchange.case
        for part in (case.path_parameters, case.query, getattr(case, "body", None)):
            walk(part)
    return found


def metrics_findings(text: str, name: str, core_families: set[str], echoed: set[str]) -> list[str]:
    """The metrics rule: valid Prometheus text, the plugin's families under its own prefix,
    and bounded labels (no request value as a label value, at most MAX_SERIES series)."""
    from prometheus_client.parser import text_string_to_metric_families

    try:
        families = list(text_string_to_metric_families(text))
    except ValueError as exc:
        return [f"GET /metrics is not valid Prometheus text: {str(exc)[:200]}"]
    prefix = name.replace("-", "_") + "_"
    found = []
    for family in families:
        if family.name in core_families or family.name.removesuffix("_created") in core_families:
            continue  # core's (a _created series shows up as a family of its own once a labelled one is used)
        if not family.name.startswith(prefix):
            found.append(f"metric {family.name} is not under the plugin's prefix {prefix}")
        if len(family.samples) > MAX_SERIES:
            found.append(f"metric {family.name} holds {len(family.samples)} series (labels unbounded?)")
        for sample in family.samples:
            leaked = [f"{label}={value[:40]!r}" for label, value in sample.labels.items() if value in echoed]
            if leaked:
                found.append(f"metric {family.name}: a label carries a request's value ({', '.join(leaked)})")
                break
    return found


def open_sockets() -> set[str]:
    """This process's open sockets (Linux: from /proc/self/fd)."""
    found: set[str] = set()
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        return found
    for fd in names:
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:"):
            found.add(target)
    return found


async def lifecycle_findings(env: Mapping[str, str], checks: list[str], settle: float = 5.0) -> list[str]:
    """Start the app with the plugin, ask its health (the backend is touched), stop it:
    no task may be left running and no socket open (after ``settle`` seconds)."""
    current = asyncio.current_task()
    tasks_before = set(asyncio.all_tasks())
    sockets_before = open_sockets()
    async with running_app(env=dict(env), strict=False) as (_app, client):
        for check in checks:
            await client.get(f"/health/{check}")
    deadline = time.monotonic() + settle
    while True:
        tasks = [t for t in asyncio.all_tasks() if t not in tasks_before and t is not current and not t.done()]
        sockets = open_sockets() - sockets_before
        if (not tasks and not sockets) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    found = [f"task left running after shutdown: {task.get_coro()!r}"[:300] for task in tasks]
    if sockets:
        found.append(f"{len(sockets)} socket(s) left open after shutdown")
    return found
