"""Vault stopped mid-test and started again (a private OpenBao dev server)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from devstack_vault import plugin
from quart.testing import QuartClient
from vault_support import SEEDED, PrivateBao, vault_env, vault_service

from devstack.api import Host, ServiceUnavailable
from devstack.testing import host_of, running_app
from devstack.testkit import eventually, metric


async def assert_served_while_down(client: QuartClient, host: Host) -> None:
    """Vault is stopped: what was cached is served, everything else is a 503."""
    # cached reads keep being served
    cached = await client.get("/examples/vault/secret/postgres")
    assert cached.status_code == 200
    assert cached.headers["X-Cache"] == "HIT"
    # (every value masked: host.secrets read secret/postgres, so it is protected now)
    assert (await cached.get_json())["data"] == dict.fromkeys(SEEDED["postgres"], "***")
    # health says so
    health = await (await client.get("/health/vault")).get_json()
    assert health["status"] == "unhealthy"
    assert health["details"]["error"] == "Vault is unreachable"
    # the secrets provider keeps the last known credentials past their TTL
    await asyncio.sleep(1.5)
    assert await host.secrets("postgres") == SEEDED["postgres"]
    assert await metric(client, "vault_secret_cache_total", result="stale") >= 1
    # nothing cached: 503 / ServiceUnavailable
    with pytest.raises(ServiceUnavailable):
        await host.secrets("mysql")
    for response in (
        await client.post("/examples/vault/secret/outage-test", json={"k": "v2"}),
        await client.get("/examples/vault/secret/mysql"),
        await client.get("/examples/vault/secret/outage-test/versions/1"),
        await client.post("/examples/vault/transit/encrypt", json={"plaintext": "x"}),
    ):
        assert response.status_code == 503
        body = await response.get_json()
        assert body["error"] == "ServiceUnavailableError"
        assert body["details"]["service"] == "vault"
        assert "retry_suggestion" in body
    with pytest.raises(ServiceUnavailable):
        await plugin.devstack_tls_certificate(host=host)


async def assert_recovered(client: QuartClient, host: Host, first_token: str) -> None:
    """Vault is back (new data, new AppRole credentials): the app serves again by itself."""
    service = vault_service(client.app)

    async def healthy() -> bool:
        body = await (await client.get("/health/vault")).get_json()
        return bool(body["status"] == "healthy")

    await eventually(healthy, timeout=10)

    async def write_succeeds() -> bool:
        response = await client.post("/examples/vault/secret/outage-test", json={"k": "v3"})
        return response.status_code == 200

    await eventually(write_succeeds, timeout=15, interval=0.5)
    # the old token means nothing to the new server: replaced by an AppRole login
    assert service.client.token != first_token
    assert service.auth.method == "approle"
    assert await metric(client, "vault_operations_total", operation="login", result="ok") >= 2

    async def rotated() -> bool:
        return (await host.secrets("postgres") or {}).get("password") == "rotated"

    await eventually(rotated, timeout=10)
    assert await host.secrets("mysql") == SEEDED["mysql"]
    encrypted = await client.post("/examples/vault/transit/encrypt", json={"plaintext": "back"})
    assert encrypted.status_code == 200


async def test_outage_and_recovery(bao: PrivateBao) -> None:
    bao.seed_approle()
    env = vault_env(bao.addr, approle_dir=str(bao.approle_dir), secrets_ttl="1", timeout="1")
    async with running_app(env=env, breaker_reset_timeout=1.0) as (app, client):
        host = host_of(app)
        warm = await client.get("/examples/vault/secret/postgres")
        assert warm.status_code == 200
        assert warm.headers["X-Cache"] == "MISS"
        assert await host.secrets("postgres") == SEEDED["postgres"]
        assert (await client.post("/examples/vault/secret/outage-test", json={"k": "v1"})).status_code == 200
        first_token = vault_service(app).client.token

        bao.stop()
        await assert_served_while_down(client, host)

        # Vault comes back (empty: a dev server keeps nothing) and is seeded again,
        # with new AppRole credentials in the files
        bao.start()
        bao.seed_kv({**SEEDED, "postgres": {**SEEDED["postgres"], "password": "rotated"}})
        bao.seed_transit()
        bao.seed_approle()
        await assert_recovered(client, host, first_token)


async def test_startup_with_vault_down_then_up(bao: PrivateBao) -> None:
    bao.seed_approle()
    bao.stop()
    env = vault_env(bao.addr, approle_dir=str(bao.approle_dir), timeout="1")
    async with running_app(env=env, breaker_reset_timeout=1.0) as (app, client):
        assert (await client.get("/plugins")).status_code == 200  # startup did not fail
        assert (await client.get("/examples/vault/secret/postgres")).status_code == 503
        bao.start()
        bao.seed_kv(SEEDED)
        bao.seed_approle()

        async def readable() -> bool:
            return (await client.get("/examples/vault/secret/postgres")).status_code == 200

        await eventually(readable, timeout=20, interval=0.5)
        assert vault_service(app).auth.authenticated


async def test_sealed_vault_is_unhealthy(bao: PrivateBao) -> None:
    env = vault_env(bao.addr, token="root", timeout="2")
    async with running_app(env=env) as (_app, client):
        assert (await (await client.get("/health/vault")).get_json())["status"] == "healthy"
        bao.root().sys.seal()
        body = await (await client.get("/health/vault")).get_json()
        assert body["status"] == "unhealthy"
        assert body["details"]["sealed"] is True
        assert body["details"]["initialized"] is True
        read = await client.get("/examples/vault/secret/postgres")
        assert read.status_code == 503


async def test_https_vault_with_ca_cert(tmp_path: Path) -> None:
    server = PrivateBao(tmp_path, tls=True).start()
    try:
        server.seed_kv(SEEDED)
        env = vault_env(server.addr, token="root", ca_cert=str(server.ca_file))
        async with running_app(env=env) as (_app, client):
            response = await client.get("/examples/vault/secret/redis-1")
            assert response.status_code == 200
            assert (await response.get_json())["data"] == {"password": "***"}
            assert (await (await client.get("/health/vault")).get_json())["status"] == "healthy"
        # without the CA the server's certificate is not trusted: 503, not a silent downgrade
        async with running_app(env=vault_env(server.addr, token="root")) as (_app, client):
            assert (await client.get("/examples/vault/secret/redis-1")).status_code == 503
    finally:
        server.stop()
