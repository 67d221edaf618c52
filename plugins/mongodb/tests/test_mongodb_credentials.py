"""Credentials through core's secrets hook: Vault's when it answers, else the settings'.

The shared SecantusDB enforces authentication (services.sh starts it with --auth), so a
wrong password is observable: the health check says unhealthy and data routes answer 503.
The provider is a real one reading OpenBao's KV v2 engine (``secret/mongodb``).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from typing import Any

from mongodb_support import collection_exists, eventually
from pymongo import MongoClient

from devstack.testing import running_app
from devstack.testkit import VaultSecrets, free_port, wait_health

BASE = "/examples/database/mongodb"
WRONG = "definitely-not-the-password"


async def assert_rejected(client: Any) -> None:
    """The server refuses these credentials: unhealthy, and 503 naming mongodb."""
    for _ in range(50):
        body = await (await client.get("/health/mongodb")).get_json()
        if body.get("error") == "MongoDB connection failed":
            break
        await asyncio.sleep(0.1)
    assert body == {"status": "unhealthy", "error": "MongoDB connection failed"}
    response = await client.post(BASE, json={"key": "k", "value": 1})
    assert response.status_code == 503
    envelope = await response.get_json()
    assert envelope["details"]["service"] == "mongodb"
    assert WRONG not in await response.get_data(as_text=True)


async def test_wrong_password_in_settings_is_refused_by_the_server(mongo_env: dict[str, str | None]) -> None:
    """The premise of the Vault test below: authentication is enforced."""
    async with running_app(env={**mongo_env, "MONGODB_PASSWORD": WRONG}) as (_app, client):
        await assert_rejected(client)


async def test_credentials_come_from_vault(
    mongo_env: dict[str, str | None],
    vault_env: dict[str, str],
    collection_name: str,
    shared_mongo: MongoClient[dict[str, Any]],
) -> None:
    """Settings carry a wrong password and a wrong database; only Vault's values work."""
    provider = VaultSecrets(vault_env["VAULT_ADDR"], vault_env["VAULT_TOKEN"])
    env = {**mongo_env, "MONGODB_PASSWORD": WRONG, "MONGODB_DATABASE": "not_the_vault_database"}
    async with running_app(env=env, plugins={"vault-test": provider}) as (_app, client):
        await wait_health(client, "mongodb", timeout=20.0)
        response = await client.post(BASE, json={"key": "from-vault", "value": {"ok": True}})
        assert response.status_code == 201
        for _ in range(10):
            assert (await client.get(BASE)).status_code == 200
            assert (await client.get(f"{BASE}/query")).status_code == 200
        # one read at startup, none per request
        assert provider.asked == ["mongodb"]
    # the record went to the database named in Vault (secret/mongodb), not the settings' one
    vault_database = os.environ["MONGODB_DATABASE"]
    assert collection_exists(shared_mongo, vault_database, collection_name)
    stored = shared_mongo[vault_database][collection_name].find_one({"key": "from-vault"})
    assert stored is not None
    assert "not_the_vault_database" not in shared_mongo.list_database_names()


async def test_settings_are_used_when_the_provider_answers_none(
    mongo_env: dict[str, str | None],
    vault_env: dict[str, str],
    collection_name: str,
    shared_mongo: MongoClient[dict[str, Any]],
) -> None:
    """A provider with nothing at its path answers None: the settings' credentials work."""
    provider = VaultSecrets(vault_env["VAULT_ADDR"], vault_env["VAULT_TOKEN"], prefix=f"absent-{uuid.uuid4().hex}/")
    async with running_app(env=mongo_env, plugins={"vault-test": provider}) as (_app, client):
        await wait_health(client, "mongodb", timeout=20.0)
        response = await client.post(BASE, json={"key": "from-settings", "value": 1})
        assert response.status_code == 201
        assert provider.asked == ["mongodb"]
    database = os.environ["MONGODB_DATABASE"]
    await eventually(lambda: collection_exists(shared_mongo, database, collection_name))
    assert shared_mongo[database][collection_name].find_one({"key": "from-settings"}) is not None


async def test_provider_none_and_wrong_settings_fail(
    mongo_env: dict[str, str | None], vault_env: dict[str, str]
) -> None:
    """With no answer from the provider the settings really are what is used."""
    provider = VaultSecrets(vault_env["VAULT_ADDR"], vault_env["VAULT_TOKEN"], prefix=f"absent-{uuid.uuid4().hex}/")
    async with running_app(env={**mongo_env, "MONGODB_PASSWORD": WRONG}, plugins={"vault-test": provider}) as (
        _app,
        client,
    ):
        await assert_rejected(client)


async def test_vault_down_at_startup_leaves_the_api_serving(mongo_env: dict[str, str | None]) -> None:
    """The provider raises ServiceUnavailable: startup still succeeds, the plugin waits."""
    provider = VaultSecrets(f"http://127.0.0.1:{free_port()}", "root")
    async with running_app(env=mongo_env, plugins={"vault-test": provider}) as (_app, client):
        assert (await client.get("/health/")).status_code == 200
        body = await (await client.get("/health/mongodb")).get_json()
        assert body == {"status": "unhealthy", "error": "MongoDB client is not ready yet"}
        response = await client.get(BASE)
        assert response.status_code == 503
        envelope = await response.get_json()
        assert envelope["details"]["service"] == "mongodb"
        assert envelope["message"] == "MongoDB is not ready yet"
        assert provider.asked  # it was asked, and is asked again in the background
