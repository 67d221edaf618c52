"""Credentials: Vault's secret/mysql through core's secrets hook, else the settings.

The provider is a real one (hvac against the OpenBao dev server) registered as a plugin,
as the vault plugin would be. MariaDB checks passwords, so a pool that opens with wrong
settings proves the credentials came from Vault.
"""

from __future__ import annotations

import secrets
import uuid

from devstack.testing import free_port, running_app
from devstack.testkit import VaultSecrets, require_env, wait_health

from .my_support import sql, wait_sessions

BASE = "/examples/database/mysql"
APP_HOSTS = ("127.0.0.1", "localhost")


async def test_credentials_are_read_from_vault(my_env) -> None:
    provider = VaultSecrets(require_env("VAULT_ADDR"), require_env("VAULT_TOKEN"))
    env = {
        **my_env,
        "MYSQL_USER": "devstack_no_such_user",
        "MYSQL_PASSWORD": "not-the-password",
        "MYSQL_DATABASE": "devstack_no_such_database",
    }
    async with running_app(env=env, plugins={"vault-test": provider}) as (_app, client):
        await wait_health(client, "mysql")
        response = await client.get(f"{BASE}/query")
        assert response.status_code == 200
        response = await client.post(BASE, json={"key": "from-vault", "value": {"ok": True}})
        assert response.status_code == 201
    assert "mysql" in provider.asked
    assert provider.answers[0] is not None
    assert provider.answers[0]["user"] == require_env("MYSQL_USER")


async def test_wrong_settings_without_vault_never_connect(my_env) -> None:
    env = {**my_env, "MYSQL_PASSWORD": "not-the-password", "MYSQL_TIMEOUT": "1"}
    async with running_app(env=env) as (_app, client):
        await wait_health(client, "mysql", status="unhealthy", timeout=2)
        response = await client.get(f"{BASE}/query")
        assert response.status_code == 503


async def test_settings_are_used_when_vault_has_nothing(my_env, admin, test_database) -> None:
    user = f"devstack_myset_{uuid.uuid4().hex[:8]}"
    password = secrets.token_urlsafe(16)
    for host in APP_HOSTS:
        await sql(admin, "CREATE USER %s@%s IDENTIFIED BY %s", (user, host, password))
        await sql(admin, f"GRANT ALL PRIVILEGES ON `{test_database}`.* TO %s@%s", (user, host))
    provider = VaultSecrets(require_env("VAULT_ADDR"), require_env("VAULT_TOKEN"), prefix=f"missing-{user}/")
    try:
        env = {**my_env, "MYSQL_USER": user, "MYSQL_PASSWORD": password}
        async with running_app(env=env, plugins={"vault-test": provider}) as (_app, client):
            await wait_health(client, "mysql")
            response = await client.post(BASE, json={"key": "from-settings", "value": [1]})
            assert response.status_code == 201
            assert len(await wait_sessions(admin, user, test_database, 5)) == 5
        assert provider.asked and provider.answers == [None]
    finally:
        for host in APP_HOSTS:
            await sql(admin, "DROP USER IF EXISTS %s@%s", (user, host))


async def test_vault_down_is_treated_like_the_backend_down(my_env) -> None:
    provider = VaultSecrets(f"http://127.0.0.1:{free_port()}", "root")
    async with running_app(env=my_env, plugins={"vault-test": provider}) as (_app, client):
        response = await client.get(f"{BASE}/query")
        body = await response.get_json()
        assert response.status_code == 503
        assert body["details"]["service"] == "mysql"
        health = await (await client.get("/health/mysql")).get_json()
        assert health == {"status": "unhealthy", "error": "MySQL connection failed"}
        plugins = await (await client.get("/plugins")).get_json()
        assert next(p for p in plugins["plugins"] if p["name"] == "mysql")["status"] == "loaded"
    assert "mysql" in provider.asked
