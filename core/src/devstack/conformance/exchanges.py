"""Property-based requests: schemathesis draws cases for each of the plugin's operations
(valid ones and invalid ones), the suite sends them to a served app and keeps every
request with its answer; the rules then judge the exchanges.

The number of cases per operation and mode is ``DEVSTACK_CONFORMANCE_EXAMPLES`` (default
10, capped by the plugin's ``DEVSTACK_CONFORMANCE["max_examples"]``); generation is
derandomized, so a run is reproducible.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import hypothesis
import requests
import schemathesis
from schemathesis import GenerationMode

REQUEST_TIMEOUT = 30.0
SEMANTIC_REJECTION = "x-devstack-semantic-rejection"
"""An operation that may reject schema-valid input for a reason no schema states (a
ciphertext decrypts only with its key): a 4xx envelope answers its valid input too."""

CONFIG = schemathesis.Config.from_dict(
    {
        "generation": {"database": "none"},
        "checks": {
            # a body that breaks its schema and is also over the operation's size limit
            # (x-max-body-bytes) is refused by its size first
            "negative_data_rejection": {
                "expected-statuses": ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428"]
            },
        },
    }
)


@dataclass
class Exchange:
    """One request the suite sent and what the served app answered."""

    case: Any
    response: Any
    """schemathesis' response (None: no answer came)."""
    mode: GenerationMode
    elapsed: float
    error: str | None = None

    @property
    def label(self) -> str:
        return str(self.case.operation.label)

    def request(self, base_url: str) -> str:
        return str(self.case.as_curl_command(base_url=base_url))

    @property
    def operation(self) -> Mapping[str, Any]:
        return dict(self.case.operation.definition.raw)


def schema_of(document: Mapping[str, Any]) -> Any:
    return schemathesis.openapi.from_dict(dict(document), config=CONFIG)


def operations_of(schema: Any, owned: Iterable[str]) -> list[Any]:
    """The schemathesis operations among ``owned`` (``METHOD /path``)."""
    wanted = set(owned)
    found = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if f"{operation.method.upper()} {operation.path}" in wanted:
            found.append(operation)
    return sorted(found, key=lambda operation: str(operation.label))


def draw(operation: Any, mode: GenerationMode, count: int) -> list[Any]:
    """Up to ``count`` cases of one operation (derandomized: the same every run)."""
    found: list[Any] = []

    @hypothesis.given(operation.as_strategy(generation_mode=mode))  # type: ignore[untyped-decorator]
    @hypothesis.settings(  # type: ignore[untyped-decorator]
        max_examples=count,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[hypothesis.Phase.generate],
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    def collect(case: Any) -> None:
        found.append(case)

    try:
        collect()
    except hypothesis.errors.Unsatisfiable:
        pass  # no negative case exists for an operation without inputs
    return found[:count]


def send(case: Any, mode: GenerationMode, base_url: str, session: requests.Session) -> Exchange:
    started = time.monotonic()
    try:
        response = case.call(base_url=base_url, session=session, timeout=REQUEST_TIMEOUT)
    except requests.RequestException as exc:
        return Exchange(case, None, mode, time.monotonic() - started, f"no answer ({type(exc).__name__})")
    return Exchange(case, response, mode, time.monotonic() - started)


def exchanges(
    operations: Iterable[Any], base_url: str, count: int, modes: Iterable[GenerationMode] = tuple(GenerationMode)
) -> list[Exchange]:
    """Every drawn case of every operation, sent once."""
    sent = []
    with requests.Session() as session:
        for operation in operations:
            for mode in modes:
                for case in draw(operation, mode, count):
                    sent.append(send(case, mode, base_url, session))
    return sent


def content_type(response: Any) -> str:
    """The Content-Type of a schemathesis response (headers are lists) or a requests one."""
    value = {str(k).lower(): v for k, v in response.headers.items()}.get("content-type", "")
    return str(value[0] if isinstance(value, list) and value else value or "")


def envelope_problem(response: Any) -> str | None:
    """What keeps an error answer from being devstack's JSON envelope (None: it is one)."""
    if not content_type(response).startswith("application/json"):
        return f"a {response.status_code} that is not JSON ({content_type(response) or 'no content type'})"
    try:
        body = response.json()
    except ValueError:
        return f"a {response.status_code} whose body is not JSON"
    keys = {"error", "message", "status_code", "request_id"}
    if not isinstance(body, dict) or not keys <= set(body):
        return f"a {response.status_code} without the error envelope ({sorted(keys)}): {str(body)[:200]}"
    if body["status_code"] != response.status_code:
        return f"a {response.status_code} whose envelope says status_code {body['status_code']}"
    return None


def failure_text(exc: BaseException) -> str:
    """A schemathesis check failure (or a group of them) in one line each."""
    parts = list(getattr(exc, "exceptions", None) or [exc])
    texts = []
    for part in parts:
        title = getattr(part, "title", "") or type(part).__name__
        message = " ".join(str(getattr(part, "message", "") or part).split())
        texts.append(f"{title}: {message[:300]}")
    return "; ".join(texts)
