"""The cluster password through core's secrets hook (Vault ``secret/redis-1``), else the
settings. The shared cluster requires its password, so a wrong one is observable."""

from __future__ import annotations

from typing import Any

from redis_support import Target

from devstack.testing import running_app
from devstack.testkit import VaultSecrets, closed_port, eventually

WRONG = "definitely-not-the-cluster-password"


async def cache_works(client: Any) -> bool:
    response = await client.post("/examples/cache/cred-check?value=ok&ttl=30")
    if response.status_code != 200:
        return False
    body = await (await client.get("/examples/cache/cred-check")).get_json()
    return bool(body["value"] == "ok")


async def test_wrong_password_in_settings_is_refused(cluster: Target) -> None:
    """The premise of the Vault test: the cluster enforces its password."""
    async with running_app(env={**cluster.env, "REDIS_CLUSTER_PASSWORD": WRONG}) as (_app, client):
        response = await client.get("/examples/cache/cred-check")
        assert response.status_code == 503
        text = await response.get_data(as_text=True)
        assert WRONG not in text
        assert (await response.get_json())["details"]["service"] == "redis"
        health = await (await client.get("/health/redis")).get_json()
        assert health["status"] == "unhealthy"
        assert all(node["status"] == "unhealthy" for node in health["nodes"])
        assert WRONG not in str(health)
        assert (await client.get("/redis/cluster/info")).status_code == 503


async def test_password_comes_from_vault(cluster: Target, vault_secrets: VaultSecrets) -> None:
    """Settings carry a wrong password; only Vault's (secret/redis-1..3) works."""
    provider = vault_secrets
    env = {**cluster.env, "REDIS_CLUSTER_PASSWORD": WRONG}
    async with running_app(env=env, plugins={"vault-test": provider}) as (_app, client):
        assert await cache_works(client)
        health = await (await client.get("/health/redis")).get_json()
        assert health["status"] == "healthy"
        for name in ("redis-1", "redis-2", "redis-3"):
            assert (await client.get(f"/redis/nodes/{name}/info")).status_code == 200
        for _ in range(10):
            assert (await client.get("/examples/cache/cred-check")).status_code == 200
        # read once at startup (the cluster's entry, then each node's), never per request
        assert provider.asked == ["redis-1", "redis-2", "redis-3"]


async def test_settings_password_when_the_provider_has_nothing(cluster: Target, vault_secrets: VaultSecrets) -> None:
    provider = vault_secrets
    env = {**cluster.env, "REDIS_NODES": cluster.env["REDIS_NODES"].replace("redis-", "absent-node-")}  # type: ignore[union-attr]
    async with running_app(env=env, plugins={"vault-test": provider}) as (_app, client):
        assert await cache_works(client)
        assert provider.asked == ["absent-node-1", "absent-node-2", "absent-node-3"]


async def test_secrets_service_setting_names_the_vault_entry(cluster: Target, vault_secrets: VaultSecrets) -> None:
    provider = vault_secrets
    env = {
        **cluster.env,
        "REDIS_CLUSTER_PASSWORD": WRONG,
        "REDIS_SECRETS_SERVICE": "redis-2",
        "REDIS_NODES": cluster.env["REDIS_NODES"].replace("redis-", "node-"),  # type: ignore[union-attr]
    }
    async with running_app(env=env, plugins={"vault-test": provider}) as (_app, client):
        assert await cache_works(client)
        assert provider.asked[0] == "redis-2"


async def test_vault_down_at_startup_then_back(cluster: Target, vault_secrets_settings: dict[str, str]) -> None:
    """Startup does not fail; requests answer 503 until the provider answers, then work."""
    provider = VaultSecrets(f"http://127.0.0.1:{closed_port()}", vault_secrets_settings["VAULT_TOKEN"])
    env = {**cluster.env, "REDIS_CLUSTER_PASSWORD": WRONG, "REDIS_STARTUP_WAIT": "0.5"}
    async with running_app(env=env, plugins={"vault-test": provider}) as (_app, client):
        response = await client.get("/examples/cache/cred-check")
        assert response.status_code == 503
        body = await response.get_json()
        assert body["message"] == "Redis connection is not established yet"
        health = await (await client.get("/health/redis")).get_json()
        assert health["status"] == "unhealthy"
        assert health["error"] == "Redis connection is not established yet"
        assert health["total_nodes"] == 3

        provider.addr = vault_secrets_settings["VAULT_ADDR"]
        assert await eventually(lambda: cache_works(client), timeout=20)
