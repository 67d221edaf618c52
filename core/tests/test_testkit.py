"""devstack's pytest plugin: its fixtures and helpers, used as a plugin's tests use them."""

from __future__ import annotations

import os
import urllib.request
import uuid
from typing import Any

import pytest
from quart import Blueprint, jsonify

from devstack import hookimpl
from devstack.api import HealthCheck, ServiceUnavailable, health_body
from devstack.testkit import (
    AppSpec,
    Contract,
    VaultSecrets,
    app_for,
    closed_port,
    eventually,
    host_of,
    metric,
    require_backend,
    require_env,
    wait_health,
)

CONTRACT = {
    "paths": {
        "/kit/{item}": {
            "get": {
                "operationId": "kit_item",
                "tags": ["Kit"],
                "parameters": [{"name": "item", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {
                    "200": {
                        "description": "the item",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["item"],
                                    "properties": {"item": {"type": "string"}},
                                }
                            }
                        },
                    },
                    "422": {"$ref": "#/components/responses/ValidationError"},
                },
            }
        }
    },
    "tags": [{"name": "Kit", "description": "test kit"}],
}


class KitPlugin:
    """A plugin object given by hand: a route, a health check that turns healthy later."""

    def __init__(self) -> None:
        self.ready = False

    @hookimpl
    def devstack_routes(self, host: Any) -> Blueprint:
        blueprint = Blueprint("kit", __name__)

        @blueprint.get("/kit/<item>")
        async def item(item: str) -> Any:
            return jsonify({"item": item})

        return blueprint

    @hookimpl
    def devstack_health_checks(self, host: Any) -> list[HealthCheck]:
        async def probe() -> dict[str, Any]:
            return health_body(self.ready)

        return [HealthCheck(name="kit", probe=probe, timeout=1.0, critical=False)]

    @hookimpl
    def devstack_contract(self) -> dict[str, Any]:
        return CONTRACT


KIT = KitPlugin()


@pytest.fixture
def devstack_plugins() -> dict[str, object]:
    return {"kit": KIT}


async def test_client_serves_the_given_plugin_and_its_answers_match_the_contract(
    devstack_client: Any, devstack_contract: Contract
) -> None:
    response = await devstack_client.get("/kit/spanner")
    body = await devstack_contract.check_response("GET", "/kit/spanner", response)
    assert body == {"item": "spanner"}
    assert devstack_contract.template_of("/kit/spanner") == "/kit/{item}"


async def test_contract_names_what_does_not_match(devstack_contract: Contract) -> None:
    errors = devstack_contract.errors("GET", "/kit/x", 200, {"item": 3})
    assert errors == ["item: 3 is not of type 'string'"]
    assert devstack_contract.errors("GET", "/kit/x", 503, {}) == [
        "status 503 is not documented (documented: ['200', '422'])"
    ]
    with pytest.raises(AssertionError, match="not described"):
        devstack_contract.operation("GET", "/nowhere")


@pytest.mark.devstack(env={"DEVSTACK_KIT_MARKER": "set"}, health_cache_ttl=0)
async def test_marker_env_is_applied_and_wait_health_polls(devstack_app: Any) -> None:
    app, client = devstack_app
    assert os.environ["DEVSTACK_KIT_MARKER"] == "set"
    assert host_of(app) is not None
    KIT.ready = False
    assert (await wait_health(client, "kit", "unhealthy"))["status"] == "unhealthy"
    KIT.ready = True
    try:
        assert (await wait_health(client, "kit"))["status"] == "healthy"
    finally:
        KIT.ready = False
    assert await metric(client, "app_info") == 1.0


async def test_wait_health_fails_with_the_last_body(devstack_client: Any) -> None:
    with pytest.raises(AssertionError, match=r"/health/kit did not become healthy within 0.3s: \{.*unhealthy"):
        await wait_health(devstack_client, "kit", timeout=0.3)


async def test_eventually_returns_the_value_and_fails_with_the_last_one() -> None:
    calls: list[int] = []

    async def third() -> int | None:
        calls.append(1)
        return len(calls) if len(calls) >= 3 else None

    assert await eventually(third, timeout=5, interval=0.01) == 3
    with pytest.raises(AssertionError, match=r"queue empty not met within 0.05s \(last value: 0\)"):
        await eventually(lambda: 0, timeout=0.05, interval=0.01, what="queue empty")


def test_require_env_and_backend_fail_never_skip(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVSTACK_KIT_A", "a")
    monkeypatch.setenv("DEVSTACK_KIT_B", "b")
    monkeypatch.delenv("DEVSTACK_KIT_MISSING", raising=False)
    assert require_env("DEVSTACK_KIT_A") == "a"
    assert require_env("DEVSTACK_KIT_A", "DEVSTACK_KIT_B") == {"DEVSTACK_KIT_A": "a", "DEVSTACK_KIT_B": "b"}
    with pytest.raises(pytest.fail.Exception, match="DEVSTACK_KIT_MISSING not set"):
        require_env("DEVSTACK_KIT_MISSING")
    port = closed_port()
    with pytest.raises(pytest.fail.Exception, match=f"mybackend at 127.0.0.1:{port} does not accept"):
        require_backend("127.0.0.1", port, "mybackend")


@pytest.mark.devstack(plugins=[], env={"DEVSTACK_KIT_SERVED": "1"})
def test_server_fixture_serves_over_a_real_socket(devstack_server: Any) -> None:
    with urllib.request.urlopen(f"{devstack_server.url}/health/live", timeout=5) as answer:
        assert answer.status == 200
    assert devstack_server.env["DEVSTACK_KIT_SERVED"] == "1"


async def test_vault_secrets_answers_through_host_secrets(vault_secrets: VaultSecrets) -> None:
    name = f"devstack-kit-{uuid.uuid4().hex[:10]}"
    vault_secrets.write(name, {"password": "kit-secret"})
    try:
        async with app_for(AppSpec(plugins={"secrets": vault_secrets})) as (app, _client):
            assert await host_of(app).secrets(name) == {"password": "kit-secret"}
            assert await host_of(app).secrets(f"{name}-absent") is None
    finally:
        vault_secrets.delete(name)
    assert vault_secrets.read(name) is None
    assert vault_secrets.asked == [name, f"{name}-absent"]
    down = VaultSecrets(f"http://127.0.0.1:{closed_port()}", "token")

    with pytest.raises(ServiceUnavailable):
        down.read(name)
    require_env("VAULT_ADDR")
