"""devstack_secrets: another plugin gets its credentials through host.secrets()."""

from __future__ import annotations

from typing import Any

import hvac
import pytest
from quart import Blueprint, jsonify

from devstack import hookimpl
from devstack.api import Host, ServiceUnavailable
from devstack.testing import host_of, running_app
from devstack.testkit import metric

CONSUMER_CONTRACT: dict[str, Any] = {
    "paths": {
        "/consumer/{service}": {
            "get": {
                "operationId": "consumer_credentials",
                "parameters": [
                    {
                        "name": "service",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "pattern": "^[a-z0-9-]+$", "maxLength": 50},
                    }
                ],
                "responses": {"200": {"description": "what host.secrets answered"}},
            }
        }
    }
}


class Consumer:
    """A plugin that reads its credentials at startup and on every request."""

    def __init__(self) -> None:
        self.at_startup: dict[str, str] | None = None

    @hookimpl
    async def devstack_startup(self, host: Host) -> None:
        self.at_startup = await host.secrets("postgres")

    @hookimpl
    def devstack_routes(self, host: Host) -> Blueprint:
        blueprint = Blueprint("consumer", __name__)

        @blueprint.get("/consumer/<service>")
        async def credentials(service: str) -> Any:
            found = await host.secrets(service)
            return jsonify({"found": found is not None, "user": (found or {}).get("user")})

        return blueprint

    @hookimpl
    def devstack_contract(self) -> dict[str, Any]:
        return CONSUMER_CONTRACT


async def test_consumer_gets_credentials(shared_env: dict[str, str | None], root: hvac.Client) -> None:
    expected = root.secrets.kv.v2.read_secret_version(
        path="postgres", mount_point="secret", raise_on_deleted_version=True
    )
    consumer = Consumer()
    async with running_app(env=shared_env, plugins={"consumer": consumer}) as (_app, client):
        assert consumer.at_startup == expected["data"]["data"]
        response = await client.get("/consumer/postgres")
        assert await response.get_json() == {"found": True, "user": "appuser"}
        missing = await client.get("/consumer/no-such-service")
        assert await missing.get_json() == {"found": False, "user": None}


async def test_cached_secret_does_not_touch_vault(shared_env: dict[str, str | None]) -> None:
    async with running_app(env=shared_env) as (app, client):
        host = host_of(app)
        assert (await host.secrets("rabbitmq") or {}).get("vhost")
        reads = await metric(client, "vault_operations_total", operation="kv_read", result="ok")
        hits = await metric(client, "vault_secret_cache_total", result="hit")
        for _ in range(20):
            assert (await host.secrets("rabbitmq") or {}).get("vhost")
        assert await metric(client, "vault_operations_total", operation="kv_read", result="ok") == reads
        assert await metric(client, "vault_secret_cache_total", result="hit") == hits + 20
        # a secret that does not exist is remembered as absent too
        assert await host.secrets("no-such-service") is None
        reads = await metric(client, "vault_operations_total", operation="kv_read", result="ok")
        assert await host.secrets("no-such-service") is None
        assert await metric(client, "vault_operations_total", operation="kv_read", result="ok") == reads


async def test_refreshed_in_background(shared_env: dict[str, str | None], root: hvac.Client, scratch: str) -> None:
    root.secrets.kv.v2.create_or_update_secret(path=scratch, secret={"user": "first"}, mount_point="secret")
    async with running_app(env={**shared_env, "VAULT_SECRETS_TTL": "2"}) as (app, client):
        host = host_of(app)
        assert await host.secrets(scratch) == {"user": "first"}
        root.secrets.kv.v2.create_or_update_secret(path=scratch, secret={"user": "second"}, mount_point="secret")
        await _wait_for(host, scratch, {"user": "second"})
        # the background loop refreshed it: the answer came from the cache, not a stale entry
        assert await metric(client, "vault_secret_cache_total", result="miss") == 1
        assert await metric(client, "vault_secret_cache_total", result="stale") == 0


async def _wait_for(host: Host, name: str, expected: dict[str, str]) -> None:
    import asyncio
    import time

    deadline = time.monotonic() + 10
    while await host.secrets(name) != expected:
        assert time.monotonic() < deadline, "the cached secret was not refreshed"
        await asyncio.sleep(0.2)


async def test_write_invalidates_provider_cache(shared_env: dict[str, str | None], scratch: str) -> None:
    from devstack_vault import plugin

    async with running_app(env=shared_env) as (app, client):
        host = host_of(app)
        # the provider's cache filled through the hook itself (host.secrets would protect the name)
        assert await plugin.devstack_secrets(service=scratch, host=host) is None
        await client.post(f"/examples/vault/secret/{scratch}", json={"user": "new"})
        assert await plugin.devstack_secrets(service=scratch, host=host) == {"user": "new"}
        await client.post(f"/examples/vault/secret/{scratch}", json={"user": "newer"})
        assert await plugin.devstack_secrets(service=scratch, host=host) == {"user": "newer"}
        # once devstack itself reads it, it is no longer writable through the API
        assert await host.secrets(scratch) == {"user": "newer"}
        assert (await client.post(f"/examples/vault/secret/{scratch}", json={"user": "x"})).status_code == 403
        assert await host.secrets(scratch) == {"user": "newer"}


async def test_unsafe_names_never_reach_vault(shared_env: dict[str, str | None]) -> None:
    from devstack_vault import plugin

    async with running_app(env=shared_env) as (app, _client):
        host = host_of(app)
        for name in ("../sys/health", "a/b", "..", "", "x" * 51, "name\n"):
            with pytest.raises(ValueError):
                await plugin.devstack_secrets(service=name, host=host)


async def test_vault_down_nothing_cached(shared_env: dict[str, str | None]) -> None:
    env = {**shared_env, "VAULT_ADDR": "http://127.0.0.1:9", "VAULT_TIMEOUT": "1"}
    async with running_app(env=env) as (app, _client):
        with pytest.raises(ServiceUnavailable) as raised:
            await host_of(app).secrets("postgres")
        assert raised.value.service == "vault"


class LocalSecrets:
    """Another secrets provider: answers for postgres from its own store."""

    @hookimpl
    async def devstack_secrets(self, service: str, host: Host) -> dict[str, str] | None:
        return {"user": "from-local"} if service == "postgres" else None


class EagerLocalSecrets(LocalSecrets):
    @hookimpl(tryfirst=True)
    async def devstack_secrets(self, service: str, host: Host) -> dict[str, str] | None:
        return {"user": "from-local"} if service == "postgres" else None


async def test_a_tryfirst_provider_answers_ahead_of_vault(shared_env: dict[str, str | None]) -> None:
    # "zz-local" comes after "vault" in name order: Vault answers first ...
    async with running_app(env=shared_env, plugins={"zz-local": LocalSecrets()}) as (app, _client):
        assert (await host_of(app).secrets("postgres") or {}).get("user") == "appuser"
    # ... unless it says tryfirst; for what it does not know, Vault still answers
    async with running_app(env=shared_env, plugins={"zz-local": EagerLocalSecrets()}) as (app, _client):
        assert await host_of(app).secrets("postgres") == {"user": "from-local"}
        assert (await host_of(app).secrets("rabbitmq") or {}).get("vhost")
