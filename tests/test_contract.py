"""spec/openapi.yaml is the contract: the served document equals it, it is valid, every
route has an operation and every operation a route, and each plugin alone serves core's
operations plus its own."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from openapi_spec_validator import validate

from devstack.contract import core_fragment, diff, operations
from devstack.runtime.app import state_of
from devstack.testing import running_app

from .conftest import PLUGINS, SPEC_FILE


def spec() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(SPEC_FILE.read_text())
    return loaded


def test_spec_file_is_valid_openapi_31() -> None:
    document = spec()
    assert document["openapi"].startswith("3.1")
    validate(document)


async def test_served_document_equals_spec_file() -> None:
    async with running_app() as (app, client):
        served = await (await client.get("/openapi.json")).get_json()
        assert diff(spec(), served, "spec/openapi.yaml", "GET /openapi.json") == ""
        assert state_of(app).contract_gaps == []
        loaded = {record.name for record in state_of(app).registry.loaded()}
        assert loaded == set(PLUGINS)


async def test_every_route_has_an_operation_and_every_operation_a_route() -> None:
    async with running_app() as (app, _):
        state = state_of(app)
        served_routes = set(state.route_owners)
        assert served_routes == set(operations(state.contract))


@pytest.mark.parametrize("plugin", PLUGINS)
async def test_one_plugin_serves_core_plus_its_own_operations(plugin: str) -> None:
    async with running_app(env={"DEVSTACK_PLUGINS": plugin}) as (app, _):
        state = state_of(app)
        own = {key for key, owner in state.route_owners.items() if owner not in ("core", plugin)}
        assert own == set()
        core_ops = set(operations(core_fragment()))
        plugin_ops = {key for key, owner in state.route_owners.items() if owner == plugin}
        assert plugin_ops, f"{plugin} serves no route"
        assert set(operations(state.contract)) == core_ops | plugin_ops
        full = spec()
        for method, path in plugin_ops:
            assert state.contract["paths"][path][method.lower()] == full["paths"][path][method.lower()]


def test_every_operation_documents_its_errors() -> None:
    document = spec()
    for method, path in operations(document):
        operation = document["paths"][path][method.lower()]
        responses = operation["responses"]
        assert "429" in responses, f"{method} {path} does not document 429"
        has_inputs = operation.get("parameters") or operation.get("requestBody")
        if has_inputs:
            assert "422" in responses, f"{method} {path} takes input but does not document 422"
        if operation.get("requestBody"):
            assert "413" in responses, f"{method} {path} takes a body but does not document 413"
        for status, response in responses.items():
            if status.startswith(("4", "5")):
                resolved = response
                if "$ref" in response:
                    resolved = document["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
                assert "application/json" in resolved.get("content", {}), f"{method} {path} {status} has no schema"


def test_backend_operations_document_503() -> None:
    document = spec()
    for method, path in operations(document):
        if path.startswith(("/examples/", "/redis/")):
            assert "503" in document["paths"][path][method.lower()]["responses"], f"{method} {path} lacks 503"
