"""The rules with the plugin's backend unreachable: every operation answers a 503
envelope within the plugin's timeout, its health says unhealthy, core's stays ok."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from schemathesis import GenerationMode

from devstack.conformance.exchanges import Exchange, draw, envelope_problem, send
from devstack.conformance.live import get_json

CASES = 3
"""Valid cases sent to each operation while the backend is down."""


def outage_exchanges(operations: Iterable[Any], base_url: str) -> list[Exchange]:
    import requests

    with requests.Session() as session:
        return [
            send(case, GenerationMode.POSITIVE, base_url, session)
            for operation in operations
            if not str(operation.path).startswith("/health/")
            for case in draw(operation, GenerationMode.POSITIVE, CASES)
        ]


def unavailable_findings(sent: list[Exchange], base_url: str, limit: float) -> list[str]:
    """Each answer is a 503 envelope (or a 4xx envelope: input refused before the backend
    is asked), within ``limit`` seconds; each operation answers 503 at least once."""
    found = []
    answered_503: dict[str, bool] = {}
    for exchange in sent:
        response = exchange.response
        answered_503.setdefault(exchange.label, False)
        request = f"\n    request: {exchange.request(base_url)}"
        if response is None:
            found.append(f"{exchange.label}: {exchange.error}{request}")
            continue
        if exchange.elapsed > limit:
            found.append(
                f"{exchange.label}: answered after {exchange.elapsed:.1f} s (its timeout: {limit:g} s){request}"
            )
        status = response.status_code
        if status == 503 or 400 <= status < 500:
            problem = envelope_problem(response)
            if problem:
                found.append(f"{exchange.label}: {problem}{request}")
            answered_503[exchange.label] |= status == 503
        else:
            found.append(f"{exchange.label}: answered {status}, not 503, with its backend down{request}")
    found += [
        f"{label}: no valid request got a 503 with its backend down" for label, ok in answered_503.items() if not ok
    ]
    return found


def health_simple_findings(base_url: str) -> list[str]:
    status, body = get_json(f"{base_url}/health/")
    if status != 200 or body != {"status": "ok"}:
        return [f"GET /health/ answered {status} {str(body)[:200]} with the plugin's backend down (want 200 ok)"]
    return []
