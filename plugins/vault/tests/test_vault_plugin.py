"""Health, root info, metrics and contract of the plugin (shared OpenBao)."""

from __future__ import annotations

from vault_support import vault_service

from devstack.testing import running_app
from devstack.testkit import metric

VAULT_OPERATIONS = {
    ("GET", "/examples/vault/secret/{service_name}"),
    ("POST", "/examples/vault/secret/{service_name}"),
    ("GET", "/examples/vault/secret/{service_name}/{key}"),
    ("GET", "/examples/vault/secret/{service_name}/versions/{version}"),
    ("POST", "/examples/vault/transit/encrypt"),
    ("POST", "/examples/vault/transit/decrypt"),
    ("GET", "/health/vault"),
}


async def test_health_healthy(shared_env: dict[str, str | None]) -> None:
    async with running_app(env=shared_env) as (app, client):
        await vault_service(app).login()
        response = await client.get("/health/vault")
        assert response.status_code == 200
        body = await response.get_json()
        assert set(body) == {"status", "details"}
        assert body["status"] == "healthy"
        details = body["details"]
        assert details["status"] == "healthy"  # repeated inside details, as the reference does
        assert details["initialized"] is True
        assert details["sealed"] is False
        assert details["standby"] is False
        assert details["version"]
        assert details["auth_method"] == "approle"
        assert details["authenticated"] is True
        assert details["circuit_breaker"] == "closed"
        every = await (await client.get("/health/all")).get_json()
        assert every["services"]["vault"]["status"] == "healthy"
        assert every["services"]["vault"]["details"]["status"] == "healthy"


async def test_health_unreachable(shared_env: dict[str, str | None]) -> None:
    env = {**shared_env, "VAULT_ADDR": "http://127.0.0.1:9", "VAULT_TIMEOUT": "1"}
    async with running_app(env=env) as (_app, client):
        body = await (await client.get("/health/vault")).get_json()
        assert body["status"] == "unhealthy"
        assert body["details"]["error"] == "Vault is unreachable"
        assert body["details"]["status"] == "unhealthy"
        assert (await client.get("/health/ready")).status_code == 503
        read = await client.get("/examples/vault/secret/postgres")
        assert read.status_code == 503
        envelope = await read.get_json()
        assert envelope["error"] == "ServiceUnavailableError"
        assert envelope["details"]["service"] == "vault"


async def test_root_info(shared_env: dict[str, str | None]) -> None:
    async with running_app(env=shared_env) as (_app, client):
        root = await (await client.get("/")).get_json()
        assert root["examples"]["vault"] == "/examples/vault"
        assert "vault" in root["security"]["circuit_breakers"]["services"]
        assert root["note"] == "Every service's credentials come from the secrets provider (Vault)"


async def test_contract_documents_every_route(shared_env: dict[str, str | None]) -> None:
    async with running_app(env=shared_env) as (_app, client):
        document = await (await client.get("/openapi.json")).get_json()
        documented = {
            (method.upper(), path)
            for path, item in document["paths"].items()
            if "vault" in path
            for method in item
            if method in ("get", "post")
        }
        assert documented == VAULT_OPERATIONS
        plugins = await (await client.get("/plugins")).get_json()
        vault = next(p for p in plugins["plugins"] if p["name"] == "vault")
        assert vault["status"] == "loaded"
        assert {tuple(route.split(" ", 1)) for route in vault["routes"]} | {
            ("GET", "/health/vault")
        } == VAULT_OPERATIONS
        for path, item in document["paths"].items():
            if "vault" not in path:
                continue
            for operation in item.values():
                if not isinstance(operation, dict) or "responses" not in operation:
                    continue
                assert {"401", "429"} <= set(operation["responses"]), path
                if path != "/health/vault":
                    assert "503" in operation["responses"], path
                    assert "422" in operation["responses"], path


async def test_metrics(shared_env: dict[str, str | None]) -> None:
    async with running_app(env=shared_env) as (_app, client):
        await client.get("/examples/vault/secret/postgres")
        assert await metric(client, "vault_operations_total", operation="kv_read", result="ok") >= 1
        assert await metric(client, "vault_operations_total", operation="login", result="ok") >= 1
        assert await metric(client, "vault_operation_duration_seconds_count", operation="kv_read") >= 1
        text = await (await client.get("/metrics")).get_data(as_text=True)
        assert "# TYPE vault_secret_cache_total counter" in text
        assert "# TYPE vault_token_renewals_total counter" in text
