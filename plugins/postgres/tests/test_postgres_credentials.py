"""Credentials: Vault's secret/postgres through core's secrets hook, else the settings.

The provider is a real one (hvac against the OpenBao dev server) registered as a plugin,
as the vault plugin would be. PostgreSQL trusts local connections here, so the tests
prove which credentials were used by the role and database the server reports for the
plugin's connections.
"""

from __future__ import annotations

import uuid

import hvac

from devstack.testing import free_port, running_app
from devstack.testkit import VaultSecrets, require_env, wait_health

from .pg_support import backends

BASE = "/examples/database/postgres"


def vault_secret(service: str) -> dict[str, str]:
    client = hvac.Client(url=require_env("VAULT_ADDR"), token=require_env("VAULT_TOKEN"))
    answer = client.secrets.kv.v2.read_secret_version(path=service, mount_point="secret", raise_on_deleted_version=True)
    return answer["data"]["data"]


async def test_credentials_are_read_from_vault(pg_env, admin, app_name) -> None:
    expected = vault_secret("postgres")
    provider = VaultSecrets(require_env("VAULT_ADDR"), require_env("VAULT_TOKEN"))
    env = {
        **pg_env,
        "POSTGRES_USER": "devstack_no_such_role",
        "POSTGRES_PASSWORD": "not-the-password",
        "POSTGRES_DATABASE": "devstack_no_such_database",
    }
    async with running_app(env=env, plugins={"vault-test": provider}) as (_app, client):
        await wait_health(client, "postgres")
        response = await client.get(f"{BASE}/query")
        assert response.status_code == 200
        found = await backends(admin, app_name)
        assert found
        assert {(row["usename"], row["datname"]) for row in found} == {(expected["user"], expected["database"])}
    assert "postgres" in provider.asked


async def test_settings_are_used_when_vault_has_nothing(pg_env, admin, app_name) -> None:
    role = f"devstack_pgset_{uuid.uuid4().hex[:8]}"
    database = f"devstack_pgsetdb_{uuid.uuid4().hex[:8]}"
    await admin.execute(f'CREATE ROLE "{role}" LOGIN')
    await admin.execute(f'CREATE DATABASE "{database}" OWNER "{role}"')
    provider = VaultSecrets(require_env("VAULT_ADDR"), require_env("VAULT_TOKEN"))
    provider.prefix = f"devstack-missing-{uuid.uuid4().hex[:8]}/"
    try:
        env = {**pg_env, "POSTGRES_USER": role, "POSTGRES_PASSWORD": "", "POSTGRES_DATABASE": database}
        async with running_app(env=env, plugins={"vault-test": provider}) as (_app, client):
            await wait_health(client, "postgres")
            response = await client.post(BASE, json={"key": "from-settings", "value": [1]})
            assert response.status_code == 201
            assert {(row["usename"], row["datname"]) for row in await backends(admin, app_name)} == {(role, database)}
        assert provider.asked and provider.answers == [None]
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.execute(f'DROP ROLE IF EXISTS "{role}"')


async def test_vault_down_is_treated_like_the_backend_down(pg_env) -> None:
    provider = VaultSecrets(f"http://127.0.0.1:{free_port()}", "root")
    async with running_app(env=pg_env, plugins={"vault-test": provider}) as (_app, client):
        response = await client.get(f"{BASE}/query")
        body = await response.get_json()
        assert response.status_code == 503
        assert body["details"]["service"] == "postgres"
        health = await (await client.get("/health/postgres")).get_json()
        assert health == {"status": "unhealthy", "error": "PostgreSQL connection failed"}
        plugins = await (await client.get("/plugins")).get_json()
        assert next(p for p in plugins["plugins"] if p["name"] == "postgres")["status"] == "loaded"
    assert "postgres" in provider.asked
