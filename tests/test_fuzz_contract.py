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

What the fuzzer writes is removed at the end where it can be told apart: cache keys under
a unique REDIS_EXAMPLES_PREFIX, the queues and the Vault secrets it created. Its records
(random keys) stay in the shared ``devstack_records`` table/collection of appdb, as any
client's would.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import requests
import schemathesis
from jsonschema import Draft202012Validator
from schemathesis import checks as st_checks

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
