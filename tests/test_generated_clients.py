"""Clients generated from the contract work: openapi-python-client builds a client and
datamodel-code-generator pydantic models from spec/openapi.yaml (equal to GET /openapi.json
of the devstack with all six plugins that the calls go to), neither warns nor drops an
operation or a schema, and every operation of the contract, called through the generated
client against the real backends, answers a documented success that parses into the
models of both generators.

The calls are derived from the contract (its operations, parameters and body schemas);
only the values come from the table below, by parameter or property name, so an operation
added, removed or moved to another method is called as the contract says.
"""

from __future__ import annotations

import inspect
import json
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import yaml
from jsonschema import Draft202012Validator

from devstack.contract import operations
from devstack.testing import ServerProcess

from .generated import (
    Generated,
    Generation,
    client_classes,
    inline_answer_class,
    path_model,
    python_name,
    shape,
)
from .support import (
    SPEC_FILE,
    best_effort,
    delete_cache_keys,
    delete_mongo_records,
    delete_queue,
    delete_records,
    delete_vault_secret,
    env_value,
    server_env,
    unique,
    wait_healthy,
)

RUN = unique("clients-")
KEY = f"{RUN}-greeting"  # fits every key pattern: records, cache keys, secret keys
DOCUMENT: dict[str, Any] = yaml.safe_load(SPEC_FILE.read_text())
# writes before reads, deletes last: every read finds what the calls before it wrote
METHOD_ORDER = {"post": 0, "put": 1, "patch": 2, "get": 3, "head": 4, "delete": 5}
OPERATIONS = sorted(operations(DOCUMENT), key=lambda op: (METHOD_ORDER.get(op[0].lower(), 3), op[1]))


def parameter_values() -> dict[str, Any]:
    return {
        "service_name": RUN,
        "key": KEY,
        "version": 1,
        "pattern": f"{RUN}*",
        "filename": "swagger-ui.css",
        "node_name": env_value("REDIS_NODES").split(",")[0].split("=")[0],
        "queue_name": RUN,
        "value": "hello from a generated client",
        "ttl": 600,
        "max": 2,
        "wait_ms": 0,
        "limit": 5,
        "offset": 0,
    }


@dataclass
class Served:
    url: str
    document: dict[str, Any]
    ciphertext: str
    generated: Generated


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The generators run on spec/openapi.yaml (which the served document must equal,
    checked below) while devstack starts and the test's data is written."""
    into = tmp_path_factory.mktemp("generated")
    (into / "openapi.json").write_text(json.dumps(DOCUMENT))
    generation = Generation(into / "openapi.json", into)
    env = server_env(REDIS_EXAMPLES_PREFIX=f"{RUN}:", RABBITMQ_CONNECTION_NAME=RUN, DEVSTACK_HEALTH_CACHE_TTL="1")
    process = ServerProcess(env=env)
    try:
        process.start(timeout=60)
        wait_healthy(process.url)
        with httpx.Client(base_url=process.url, timeout=30) as http:
            document = http.get("/openapi.json").json()
            # what the client's reads find: a secret (version 1), messages, a ciphertext
            assert http.post(f"/examples/vault/secret/{RUN}", json={KEY: "seeded"}).status_code == 200
            for n in range(3):
                published = http.post("/examples/messaging/publish", params={"queue_name": RUN}, json={"n": n})
                assert published.status_code == 200, published.text
            encrypted = http.post("/examples/vault/transit/encrypt", json={"plaintext": RUN})
            assert encrypted.status_code == 200, encrypted.text
        yield Served(process.url, document, encrypted.json()["ciphertext"], generation.finish())
    finally:
        generation.stop()
        process.stop()
        best_effort(
            (delete_queue, RUN),
            (delete_vault_secret, RUN),
            (delete_cache_keys, f"{RUN}:"),
            (delete_records, RUN),
            (delete_mongo_records, RUN),
        )


@pytest.fixture(scope="module")
def generated(served: Served) -> Generated:
    return served.generated


def test_the_served_contract_is_spec_openapi_yaml(served: Served) -> None:
    assert served.document == DOCUMENT


def test_neither_generator_warns(generated: Generated) -> None:
    lines = [line.strip() for line in generated.client_output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Generating "), generated.client_output
    assert generated.models_output == "", generated.models_output


def test_no_operation_is_dropped_or_added(generated: Generated) -> None:
    assert sorted(generated.endpoints) == operations(DOCUMENT)


def test_every_component_schema_has_its_models(generated: Generated) -> None:
    client_models = set(generated.client.models.__all__)
    for name, schema in DOCUMENT["components"]["schemas"].items():
        expected = client_classes(name, schema)
        assert expected, f"{name} is no object, enum or union of objects: no generator makes a model of it"
        assert expected <= client_models, f"openapi-python-client dropped {sorted(expected - client_models)}"
        assert isinstance(getattr(generated.models, name, None), type), f"datamodel-codegen made no model {name}"


def body_for(schema: dict[str, Any], served: Served) -> dict[str, Any]:
    """A valid body: each property from the values table, or one string under KEY for a
    schema without named properties (a message, a secret's values)."""
    values = {
        "key": KEY,
        "value": {"from": "generated client", "items": [1, 2.5, None, True, "é"]},
        "plaintext": "hello from a generated client",
        "ciphertext": served.ciphertext,
    }
    properties = schema.get("properties")
    if not properties:
        return {KEY: "written by a generated client"}
    missing = [name for name in schema.get("required", []) if name not in values]
    assert not missing, f"no value for the body properties {missing}: add them to body_for"
    return {name: values[name] for name in properties if name in values}


def call_arguments(method: str, path: str, endpoint: Any, served: Served) -> dict[str, Any]:
    """The keyword arguments of ``sync_detailed`` for one operation, from its contract."""
    item = served.document["paths"][path]
    operation = item[method.lower()]
    components = served.document["components"]
    signature = inspect.signature(endpoint.sync_detailed)
    values = parameter_values()
    arguments: dict[str, Any] = {}
    for parameter in item.get("parameters", []) + operation.get("parameters", []):
        if "$ref" in parameter:
            parameter = components["parameters"][parameter["$ref"].rsplit("/", 1)[1]]
        name = parameter["name"]
        if name not in values:
            assert not parameter.get("required"), f"{method} {path}: no value for {name}: add it to the table"
            continue
        Draft202012Validator(parameter["schema"]).validate(values[name])
        arguments[python_name(signature, name)] = values[name]
    body = operation.get("requestBody")
    if body:
        schema = body["content"]["application/json"]["schema"]
        resolved = components["schemas"][schema["$ref"].rsplit("/", 1)[1]] if "$ref" in schema else schema
        data = body_for(resolved, served)
        Draft202012Validator({**resolved, "components": components}).validate(data)
        body_type = typing.get_type_hints(endpoint.sync_detailed)["body"]
        arguments["body"] = body_type.from_dict(data)
    return arguments


def check_answer(method: str, path: str, response: Any, generated: Generated, document: dict[str, Any]) -> None:
    """The answer is a documented success, of a documented type, and parses into both
    generators' models without losing a key."""
    operation = document["paths"][path][method.lower()]
    status = str(int(response.status_code))
    assert status.startswith("2") and status in operation["responses"], (status, response.content[:300])
    content = operation["responses"][status]["content"]
    media_type = response.headers["content-type"].split(";")[0].strip()
    assert media_type in content, f"{method} {path} answered {media_type}, documented {sorted(content)}"
    if media_type != "application/json":
        assert isinstance(response.parsed, str) and response.parsed
        return
    data = json.loads(response.content)
    schema = content[media_type]["schema"]
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        expected = client_classes(name, document["components"]["schemas"][name])
        model = getattr(generated.models, name)
    else:
        expected = {inline_answer_class(operation["operationId"], status)}
        model = getattr(generated.models, path_model(path, method))
    assert type(response.parsed).__name__ in expected, (type(response.parsed).__name__, expected)
    assert shape(response.parsed.to_dict()) == shape(data)
    model.model_validate(data)


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_every_operation_answers_through_the_generated_client(
    method: str, path: str, generated: Generated, served: Served
) -> None:
    endpoint = generated.endpoint(method, path)
    arguments = call_arguments(method, path, endpoint, served)
    with generated.client.Client(
        base_url=served.url, timeout=httpx.Timeout(30), raise_on_unexpected_status=True
    ) as api:
        response = endpoint.sync_detailed(client=api, **arguments)
    check_answer(method, path, response, generated, served.document)
