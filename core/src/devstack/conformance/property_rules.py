"""The rules judged on the property-based exchanges (see ``exchanges``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from schemathesis import GenerationMode
from schemathesis import checks as st_checks

from devstack.conformance.exchanges import SEMANTIC_REJECTION, Exchange, envelope_problem, failure_text

RESPONSE_CHECKS = [
    st_checks.status_code_conformance,
    st_checks.content_type_conformance,
    st_checks.response_schema_conformance,
]


def finding(exchange: Exchange, problem: str, base_url: str) -> str:
    return f"{exchange.label}: {problem}\n    request: {exchange.request(base_url)}"


def first_per_operation(found: Iterable[tuple[Exchange, str]], base_url: str) -> list[str]:
    """One finding per operation and problem (the first request that showed it)."""
    seen: set[tuple[str, str]] = set()
    kept = []
    for exchange, problem in found:
        key = (exchange.label, problem.split(":")[0])
        if key not in seen:
            seen.add(key)
            kept.append(finding(exchange, problem, base_url))
    return kept


def checked(exchange: Exchange, checks: list[Callable[..., Any]]) -> str | None:
    try:
        exchange.case.validate_response(exchange.response, checks=checks)
    except (AssertionError, BaseExceptionGroup) as exc:  # a Failure, or schemathesis' FailureGroup of them
        return failure_text(exc)
    return None


def no_server_errors(sent: list[Exchange], base_url: str) -> list[str]:
    found = []
    for exchange in sent:
        if exchange.response is None:
            found.append((exchange, exchange.error or "no answer"))
        elif exchange.response.status_code >= 500:
            found.append((exchange, f"answered {exchange.response.status_code}: {exchange.response.text[:200]}"))
    return first_per_operation(found, base_url)


def responses_documented(sent: list[Exchange], base_url: str) -> list[str]:
    found = []
    for exchange in sent:
        if exchange.response is not None and exchange.response.status_code < 500:
            problem = checked(exchange, RESPONSE_CHECKS)
            if problem:
                found.append((exchange, problem))
    return first_per_operation(found, base_url)


def invalid_input_rejected(sent: list[Exchange], base_url: str) -> list[str]:
    """Invalid input gets a 4xx, and every 4xx is the JSON error envelope."""
    found = []
    for exchange in sent:
        response = exchange.response
        if response is None or response.status_code >= 500:
            continue
        if exchange.mode is GenerationMode.NEGATIVE:
            problem = checked(exchange, [st_checks.negative_data_rejection])
            if problem:
                found.append((exchange, problem))
        if 400 <= response.status_code < 500:
            envelope = envelope_problem(response)
            if envelope:
                found.append((exchange, envelope))
    return first_per_operation(found, base_url)


def valid_input_accepted(sent: list[Exchange], base_url: str) -> list[str]:
    """Valid input is accepted, except where the operation declares a semantic rejection
    (``x-devstack-semantic-rejection``): there a 4xx envelope is an answer too."""
    found = []
    for exchange in sent:
        response = exchange.response
        if response is None or response.status_code >= 500 or exchange.mode is not GenerationMode.POSITIVE:
            continue
        declared = SEMANTIC_REJECTION in exchange.operation
        if declared and 400 <= response.status_code < 500 and envelope_problem(response) is None:
            continue
        problem = checked(exchange, [st_checks.positive_data_acceptance])
        if problem:
            found.append((exchange, problem))
    return first_per_operation(found, base_url)
