"""Drop-in down to the nested keys: every reference operation, asked of a real devstack
with all six plugins against the real backends, answers with the reference's keys and
JSON types at every depth (tests/fixtures/reference-shapes.yaml records them), and CORS
preflights and simple requests carry the reference's status, headers and values.

test_reference_parity.py checks the contract's operations and parameters; this checks
the live answers."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from devstack.testing import ServerProcess, free_port

from .support import best_effort, delete_queue, devstack_process, server_env, unique, wait_healthy
from .test_reference_parity import REFERENCE_OPERATIONS

SHAPES_FILE = Path(__file__).parent / "fixtures" / "reference-shapes.yaml"
RECORDED: dict[str, Any] = yaml.safe_load(SHAPES_FILE.read_text())
CORS: dict[str, Any] = RECORDED["cors"]
RUN = unique("parity")
JSON_TYPES: dict[str, Any] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "digits": lambda v: isinstance(v, str) and v.isdigit(),
    "any": lambda v: True,
}


def differences(shape: Any, value: Any, where: str = "", top: bool = True) -> list[str]:
    """Where ``value`` departs from ``shape`` (the notation of reference-shapes.yaml):
    a missing key, a key the reference does not have at the top level, a wrong type."""
    here = where or "/"
    if isinstance(shape, str):
        if any(JSON_TYPES[kind](value) for kind in shape.split("|")):
            return []
        return [f"{here}: {shape} expected, got {type_name(value)} {value!r:.60}"]
    if isinstance(shape, list):
        if not isinstance(value, list):
            return [f"{here}: array expected, got {type_name(value)}"]
        return [found for i, item in enumerate(value) for found in differences(shape[0], item, f"{where}/{i}", False)]
    if not isinstance(value, dict):
        return [f"{here}: object expected, got {type_name(value)} {value!r:.60}"]
    if "*" in shape:
        return [
            found for key, item in value.items() for found in differences(shape["*"], item, f"{where}/{key}", False)
        ]
    found = [f"{where}/{key}: missing" for key in shape if key not in value]
    if top:
        found += [f"{where}/{key}: not a key of the reference" for key in value if key not in shape]
    for key, expected in shape.items():
        if key in value:
            found += differences(expected, value[key], f"{where}/{key}", False)
    return found


def type_name(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "integer" if isinstance(value, int) else "number"
    )


def pointed(document: Any, pointer: str) -> Any:
    """The value at a JSON pointer (``/a/0/b``; ``~1`` is a slash)."""
    for part in pointer.split("/")[1:]:
        part = part.replace("~1", "/").replace("~0", "~")
        document = document[int(part)] if isinstance(document, list) else document[part]
    return document


def value_differences(values: Mapping[str, Any], body: Any) -> list[str]:
    found = []
    for pointer, expected in values.items():
        try:
            actual = pointed(body, pointer)
        except (KeyError, IndexError, TypeError, ValueError):
            found.append(f"{pointer}: missing (expected {expected!r})")
            continue
        if actual != expected:
            found.append(f"{pointer}: {actual!r} where the reference answers {expected!r}")
    return found


def case_problems(http: httpx.Client, case: Mapping[str, Any]) -> list[str]:
    """Everything in which devstack's answer to the case differs from the recorded one."""
    method, target = case["request"].replace("{run}", RUN).split(" ", 1)
    response = http.request(method, target, json=case.get("json"))
    problems = []
    if response.status_code != case["status"]:
        problems.append(f"status {response.status_code} where the reference answers {case['status']}")
    problems += [f"no {name} header" for name in ("X-Request-ID", "X-Response-Time") if name not in response.headers]
    if "text" in case:
        content_type = response.headers.get("content-type", "")
        if not content_type.startswith(case["content_type"]):
            problems.append(f"content type {content_type!r}, the reference's is {case['content_type']!r}")
        problems += [f"no {name} in the text" for name in case["text"] if name not in response.text]
        return problems
    try:
        body = response.json()
    except ValueError:
        return [*problems, f"not JSON: {response.text[:200]!r}"]
    problems += differences(case["body"], body)
    problems += value_differences(case.get("values") or {}, body)
    return problems


def all_problems(http: httpx.Client, cases: list[dict[str, Any]]) -> list[str]:
    return [
        f"{case['request']}: {problem}"
        for case in cases
        for problem in case_problems(http, case)  # in order: a key is set before it is read
    ]


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    process = ServerProcess(env=server_env()).start(timeout=60)
    try:
        wait_healthy(process.url)
        with httpx.Client(base_url=process.url, timeout=30) as http:
            yield http
    finally:
        process.stop()
        best_effort((delete_queue, f"{RUN}.queue"))


def recorded_body(operation: str) -> Any:
    return next(case["body"] for case in RECORDED["cases"] if case["operation"] == operation)


def test_every_reference_operation_has_a_recorded_answer() -> None:
    recorded = {tuple(case["operation"].split(" ", 1)) for case in RECORDED["cases"] if case["operation"]}
    assert recorded == set(REFERENCE_OPERATIONS)


def test_every_reference_operation_answers_the_reference_shape(client: httpx.Client) -> None:
    problems = all_problems(client, RECORDED["cases"])
    assert not problems, f"{len(problems)} differences from the reference:\n" + "\n".join(problems)


def test_a_backend_down_answers_the_reference_shape() -> None:
    """PostgreSQL at a port where nothing listens: health 200 unhealthy, the example 503."""
    env = server_env(DEVSTACK_PLUGINS="postgres", POSTGRES_PORT=str(free_port()))
    with devstack_process(env) as process, httpx.Client(base_url=process.url, timeout=30) as http:
        problems = all_problems(http, RECORDED["backend_down"])
    assert not problems, "\n".join(problems)


def preflight(http: httpx.Client, origin: str, method: str = "POST", headers: str | None = None) -> httpx.Response:
    asked = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers is not None:
        asked["Access-Control-Request-Headers"] = headers
    return http.options("/examples/cache/any-key", headers=asked)


def fixed_preflight_headers(response: httpx.Response) -> list[str]:
    expected = {
        "Access-Control-Allow-Methods": CORS["allow_methods"],
        "Access-Control-Allow-Headers": CORS["allow_headers"],
        "Access-Control-Max-Age": CORS["max_age"],
        "Access-Control-Allow-Credentials": "true",
    }
    return [
        f"{name}: {response.headers.get(name)!r}, the reference sends {value!r}"
        for name, value in expected.items()
        if response.headers.get(name) != value
    ]


def test_cors_preflights_answer_as_the_reference(client: httpx.Client) -> None:
    problems = []
    for origin in CORS["origins"]:
        response = preflight(client, origin, headers="Content-Type, X-API-Key, X-Request-ID")
        if (response.status_code, response.text) != (200, "OK"):
            problems.append(f"{origin}: {response.status_code} {response.text[:80]!r}, the reference answers 200 OK")
        if response.headers.get("Access-Control-Allow-Origin") != origin:
            problems.append(f"{origin}: Allow-Origin {response.headers.get('Access-Control-Allow-Origin')!r}")
        if "Origin" not in response.headers.get("Vary", ""):
            problems.append(f"{origin}: no Vary: Origin")
        problems += [f"{origin}: {problem}" for problem in fixed_preflight_headers(response)]

    refused_origin = preflight(client, CORS["refused_origin"])
    refused_header = preflight(client, CORS["origins"][0], headers="Content-Type, X-Not-Listed")
    for label, response, text in (
        ("refused origin", refused_origin, "Disallowed CORS origin"),
        ("refused header", refused_header, "Disallowed CORS headers"),
    ):
        if response.status_code != 400 or text not in response.text:
            problems.append(f"{label}: {response.status_code} {response.text[:120]!r}, the reference: 400 {text!r}")
        problems += [f"{label}: {problem}" for problem in fixed_preflight_headers(response)]
    if "Access-Control-Allow-Origin" in refused_origin.headers:
        problems.append("refused origin: Allow-Origin sent")
    assert not problems, "\n".join(problems)


def test_cors_simple_requests_answer_as_the_reference(client: httpx.Client) -> None:
    problems = []
    plain = client.get("/health/")
    for origin in CORS["origins"]:
        response = client.get("/health/", headers={"Origin": origin})
        expected = {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Credentials": "true",
            "Access-Control-Expose-Headers": CORS["expose_headers"],
        }
        problems += [
            f"{origin}: {name} {response.headers.get(name)!r}, the reference sends {value!r}"
            for name, value in expected.items()
            if response.headers.get(name) != value
        ]
        if not re.search(r"\bOrigin\b", response.headers.get("Vary", "")):
            problems.append(f"{origin}: no Vary: Origin")
    other = client.get("/health/", headers={"Origin": CORS["refused_origin"]})
    if "Access-Control-Allow-Origin" in other.headers:
        problems.append("another origin got Access-Control-Allow-Origin")
    if (other.status_code, other.json()) != (plain.status_code, plain.json()):
        problems.append("another origin's answer differs from the answer without Origin")
    assert not problems, "\n".join(problems)


def test_the_comparison_finds_the_differences_it_is_there_for() -> None:
    """The shape check is not blind: devstack's answers before parity fail it."""
    node_shape = recorded_body("GET /redis/cluster/nodes")["nodes"][0]
    old_node = {
        **dict.fromkeys(["node_id", "host", "role", "link_state"], "x"),
        "port": 7001,
        "flags": ["master"],
        "master_id": None,
        "config_epoch": 1,
        "slots_count": 5461,
        "ping_sent": 0,
        "pong_recv": 1796185847000,
        "slot_ranges": ["0-5460"],
    }
    assert sorted(differences(node_shape, old_node, top=False)) == [
        "/ping_sent: digits expected, got integer 0",
        "/pong_recv: digits expected, got integer 1796185847000",
        "/slot_ranges/0: object expected, got string '0-5460'",
    ]
    cors_shape = recorded_body("GET /")["security"]["cors"]
    old_cors = {"allowed_origins": ["a"], "allowed_methods": ["GET"], "allow_credentials": True, "max_age": 600}
    assert sorted(differences(cors_shape, old_cors, top=False)) == [
        "/allowed_methods: string expected, got array ['GET']",
        "/allowed_origins: string expected, got array ['a']",
        "/credentials: missing",
        "/enabled: missing",
        "/max_age: string expected, got integer 600",
    ]
    assert differences({"a": "string"}, {"a": "x", "b": 1}) == ["/b: not a key of the reference"]
    assert differences({"a": {"b": "string"}}, {"a": {"b": "x", "c": 1}}) == []
    assert value_differences({"/a/0": 1}, {"a": [2]}) == ["/a/0: 2 where the reference answers 1"]
