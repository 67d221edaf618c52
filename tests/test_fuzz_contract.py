"""Contract fuzzing: schemathesis drives every operation of the merged contract
(spec/openapi.yaml, or what the installed plugins merge to before it exists) against a
real ``devstack serve`` with all six plugins on the real backends.

Positive and negative data, from the examples, coverage and fuzzing phases, each
response checked with not_a_server_error, status_code_conformance,
content_type_conformance, response_schema_conformance, negative_data_rejection and
positive_data_acceptance. Rate limits and API keys are off (the defaults of a dev run),
so every answer is the operation's own.

    DEVSTACK_TEST_FUZZ_EXAMPLES=100   examples per operation and phase (CI default)
    DEVSTACK_TEST_FUZZ_SEED=20240611  Hypothesis seed (fixed: CI runs are reproducible)

A manual, longer run: ``DEVSTACK_TEST_FUZZ_EXAMPLES=1000 pytest tests/test_fuzz_contract.py``.

Below the schemathesis run, Hypothesis sends what a contract cannot describe to every
operation: methods nobody defined (405), Host names this server does not serve (400),
and bodies of random shape nested deeper than DEVSTACK_MAX_BODY_DEPTH (422), each an
error envelope; ``/metrics`` keeps its bounded method labels.

What the fuzzer writes is removed at the end where it can be told apart: cache keys under
a unique REDIS_EXAMPLES_PREFIX, the queues and the Vault secrets it created. Its records
(random keys) stay in the shared ``devstack_records`` table/collection of appdb, as any
client's would.
"""

from __future__ import annotations

import os
import random
import re
from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from schemathesis import checks as st_checks

from devstack.contract import operations
from devstack.foundation.settings import CoreSettings
from devstack.http.admission import KNOWN_METHODS, OTHER_METHOD
from devstack.testing import ServerProcess

from .support import (
    best_effort,
    contract,
    delete_cache_keys,
    delete_mongo_records,
    delete_queue,
    delete_vault_secret,
    http_json,
    leaks_in,
    rabbit_queues,
    server_env,
    unique,
    wait_healthy,
)

MAX_EXAMPLES = int(os.environ.get("DEVSTACK_TEST_FUZZ_EXAMPLES", "100"))
SEED = int(os.environ.get("DEVSTACK_TEST_FUZZ_SEED", "20240611"))
RUN = unique("fuzz")
CACHE_PREFIX = f"{RUN}:"

NEGATIVE_REJECTIONS = ["400", "401", "403", "404", "405", "406", "409", "415", "422", "428", "429", "5xx"]
CHECKS = [
    st_checks.not_a_server_error,
    st_checks.status_code_conformance,
    st_checks.content_type_conformance,
    st_checks.response_schema_conformance,
    st_checks.negative_data_rejection,
    st_checks.positive_data_acceptance,
]

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": SEED,
        "generation": {
            "mode": "all",
            "max-examples": MAX_EXAMPLES,
            "database": "none",
        },
        "phases": {"examples": {"enabled": True}, "coverage": {"enabled": True}, "fuzzing": {"enabled": True}},
        "request-timeout": 30,
        "checks": {
            # A rejection is a rejection: JSON Schema cannot state a size in bytes, so a
            # schema-violating body that is also larger than the operation's limit
            # (x-max-body-bytes, documented as 413) is rejected by its size first.
            "negative_data_rejection": {"expected-statuses": [*NEGATIVE_REJECTIONS, "413"]},
        },
    }
)
schema = schemathesis.openapi.from_dict(contract(), config=CONFIG)

# What the fuzzer created on shared backends, removed after the run.
CREATED_QUEUES: set[str] = set()
WRITTEN_SECRETS: set[str] = set()
# Requests sent per operation (printed at the end of the module).
SENT: dict[str, int] = {}

# A transit ciphertext is valid only if this server's key made it, which no schema can say:
# the positive decrypt cases get ciphertexts the server made (random well-formed ones are
# schema-valid but undecryptable, answered 422; tests/test_hostile_input.py sends those).
DECRYPT = "POST /examples/vault/transit/decrypt"
DECRYPT_BODY = Draft202012Validator(
    contract()["paths"]["/examples/vault/transit/decrypt"]["post"]["requestBody"]["content"]["application/json"][
        "schema"
    ]
)
REAL_CIPHERTEXTS: list[str] = []


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    queues_before = rabbit_queues()
    env = server_env(
        REDIS_EXAMPLES_PREFIX=CACHE_PREFIX,
        RABBITMQ_CONNECTION_NAME=RUN,
        POSTGRES_APPLICATION_NAME=RUN,
        DEVSTACK_HEALTH_CACHE_TTL="1",
    )
    process = ServerProcess(env=env).start(timeout=60)
    try:
        wait_healthy(process.url)
        for n in range(16):
            status, body = http_json(
                "POST", f"{process.url}/examples/vault/transit/encrypt", {"plaintext": f"fuzz {n} {RUN}"}
            )
            assert status == 200, body
            REAL_CIPHERTEXTS.append(body["ciphertext"])
        yield process
        log = process.log()
    finally:
        process.stop()
        clean_up(queues_before)
    print(f"\n{sum(SENT.values())} requests over {len(SENT)} operations: {dict(sorted(SENT.items()))}")
    leaks = leaks_in(log)
    assert not leaks, f"the server log of the fuzz run holds: {leaks[:5]}"


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    with requests.Session() as http:
        yield http


def clean_up(queues_before: set[str]) -> None:
    best_effort(
        (delete_queue, *sorted(CREATED_QUEUES - queues_before)),
        *[(delete_vault_secret, name) for name in sorted(WRITTEN_SECRETS)],
        (delete_cache_keys, CACHE_PREFIX),
        (delete_mongo_records, RUN),
    )


def remember(case: Any, response: Any) -> None:
    if response.status_code >= 300 or case.method != "POST":
        return
    if case.path == "/examples/messaging/publish":
        CREATED_QUEUES.add(str(case.query["queue_name"]))
    elif case.path == "/examples/vault/secret/{service_name}":
        WRITTEN_SECRETS.add(str(case.path_parameters["service_name"]))


@schema.parametrize()
@hypothesis.settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=False,
    suppress_health_check=list(hypothesis.HealthCheck),
    print_blob=True,
)
def test_every_operation_holds_to_the_contract(case: Any, server: ServerProcess, session: requests.Session) -> None:
    SENT[case.operation.label] = SENT.get(case.operation.label, 0) + 1
    if f"{case.method} {case.path}" == DECRYPT and DECRYPT_BODY.is_valid(case.body):
        case.body = {"ciphertext": REAL_CIPHERTEXTS[len(str(case.body)) % len(REAL_CIPHERTEXTS)]}
    response = case.call(base_url=server.url, session=session, timeout=30)
    remember(case, response)
    case.validate_response(response, checks=CHECKS)
    leaks = leaks_in(response.text)
    assert not leaks, f"{case.method} {case.formatted_path} answered {response.status_code} with {leaks}"


# --------------------------------------------------------------- what no contract describes
MAX_DEPTH: int = CoreSettings.model_fields["max_body_depth"].default
SERVED_NAMES = ["localhost", "127.0.0.1", "[::1]"]
PLAIN_SETTINGS = hypothesis.settings(
    max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(hypothesis.HealthCheck)
)


DOCUMENT = contract()


def target_of(method: str, path: str) -> str:
    """The operation's path with every path parameter and required query parameter set
    to a valid plain value, so that only what a test varies is wrong."""
    operation = DOCUMENT["paths"][path][method.lower()]
    parameters = [
        DOCUMENT["components"]["parameters"][p["$ref"].rsplit("/", 1)[1]] if "$ref" in p else p
        for p in operation.get("parameters", [])
    ]
    query = [p["name"] for p in parameters if p.get("in") == "query" and p.get("required")]
    filled = re.sub(r"\{[^}]+\}", f"{RUN}x", path)
    return filled + ("?" + "&".join(f"{name}={RUN}x" for name in query) if query else "")


TARGETS = [(method, target_of(method, path)) for method, path in operations(DOCUMENT)]
BODY_TARGETS = [
    (method, target_of(method, path))
    for method, path in operations(DOCUMENT)
    if "requestBody" in DOCUMENT["paths"][path][method.lower()]
]
INVENTED_METHODS = st.from_regex(r"[A-Z][A-Z0-9_.!~-]{0,3000}", fullmatch=True).filter(lambda m: m not in KNOWN_METHODS)
FOREIGN_NAMES = st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z0-9-]{1,12}){0,3}", fullmatch=True).filter(
    lambda name: name not in ("localhost",)
)
PORTS = st.one_of(st.just(""), st.integers(1, 65535).map(lambda port: f":{port}"))


def envelope_of(response: requests.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert {"error", "message", "status_code", "request_id"} <= set(body) and body["status_code"] == status
    return body


@hypothesis.given(method=INVENTED_METHODS, target=st.one_of(st.sampled_from(TARGETS), st.just(("GET", f"/{RUN}/none"))))
@PLAIN_SETTINGS
def test_invented_methods_get_a_405_envelope(
    method: str, target: tuple[str, str], server: ServerProcess, session: requests.Session
) -> None:
    response = session.request(method, server.url + target[1], timeout=30)
    assert envelope_of(response, 405)["error"] == "MethodNotAllowedError"


@hypothesis.given(
    name=st.one_of(st.sampled_from(SERVED_NAMES), FOREIGN_NAMES), port=PORTS, target=st.sampled_from(TARGETS)
)
@PLAIN_SETTINGS
def test_hosts_not_served_get_a_400_envelope(
    name: str, port: str, target: tuple[str, str], server: ServerProcess, session: requests.Session
) -> None:
    method, path = target
    headers = {"Host": name + port}
    if name in SERVED_NAMES:  # OPTIONS: answered by the route itself, no side effect
        response = session.request("OPTIONS", server.url + path, headers=headers, timeout=30)
        assert response.status_code == 200, (response.status_code, response.text[:300])
    else:  # refused before anything runs
        response = session.request(method, server.url + path, headers=headers, timeout=30)
        assert "DEVSTACK_ALLOWED_HOSTS" in envelope_of(response, 400)["message"]


def nested_body(depth: int, seed: int) -> str:
    """A JSON object of random shape whose deepest path nests ``depth`` levels: each
    level an array or an object, with random scalar and container siblings."""
    rng = random.Random(seed)
    text = rng.choice(["1", '"s"', "null", "[]", "{}", "-2.5e3"])
    for level in range(depth - 1):
        siblings = [rng.choice(['"[{"', "0", "true", '{"k": [1]}', "[[]]"]) for _ in range(rng.randint(0, 2))]
        if rng.random() < 0.5:
            text = "[" + ", ".join([*siblings, text]) + "]"
        else:
            members = [f'"s{n}": {value}' for n, value in enumerate(siblings)]
            text = "{" + ", ".join([*members, f'"k{level}": {text}']) + "}"
    return '{"x": ' + text + "}"


@hypothesis.given(
    depth=st.integers(MAX_DEPTH + 1, 1500), seed=st.integers(0, 2**32 - 1), target=st.sampled_from(BODY_TARGETS)
)
@PLAIN_SETTINGS
def test_bodies_nested_past_the_bound_get_a_422(
    depth: int, seed: int, target: tuple[str, str], server: ServerProcess, session: requests.Session
) -> None:
    method, path = target
    body = nested_body(depth, seed)
    response = session.request(
        method, server.url + path, data=body.encode(), headers={"Content-Type": "application/json"}, timeout=30
    )
    errors = envelope_of(response, 422)["details"]["validation_errors"]
    assert errors[0]["type"] == "json_too_deep", errors


def test_metrics_method_labels_stay_bounded(server: ServerProcess, session: requests.Session) -> None:
    metrics = session.get(f"{server.url}/metrics", timeout=30).text
    labels = set(re.findall(r'method="([^"]*)"', metrics))
    assert labels <= {*KNOWN_METHODS, OTHER_METHOD}, sorted(label[:20] for label in labels)
    assert OTHER_METHOD in labels
