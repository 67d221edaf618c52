"""Credentials come from the secrets hook: a real provider reading OpenBao's KV v2.

The settings carry a wrong password; the broker checks passwords, so the app can only
connect with the one stored in Vault at ``secret/rabbitmq``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import hvac
import hvac.exceptions
import pytest
from rabbitmq_support import Management, require_env, unique, wait_healthy

from devstack import hookimpl
from devstack.api import Host
from devstack.testing import running_app


class VaultKvSecrets:
    """A tiny secrets provider plugin: ``secret/<service>`` from OpenBao via hvac."""

    def __init__(self, url: str, token: str) -> None:
        self.client = hvac.Client(url=url, token=token, timeout=5)
        self.asked: list[str] = []

    def read(self, service: str) -> dict[str, str] | None:
        try:
            answer = self.client.secrets.kv.v2.read_secret_version(
                path=service, mount_point="secret", raise_on_deleted_version=True
            )
        except hvac.exceptions.InvalidPath:
            return None
        return {str(key): str(value) for key, value in answer["data"]["data"].items()}

    @hookimpl
    async def devstack_secrets(self, service: str, host: Host) -> Mapping[str, str] | None:
        self.asked.append(service)
        return await asyncio.to_thread(self.read, service)


@pytest.fixture
def vault() -> VaultKvSecrets:
    env = require_env("VAULT_ADDR", "VAULT_TOKEN")
    return VaultKvSecrets(env["VAULT_ADDR"], env["VAULT_TOKEN"])


async def test_credentials_from_the_secrets_provider(
    rabbit_env: dict[str, str | None], vault: VaultKvSecrets, management: Management, queue_name: str
) -> None:
    stored = vault.read("rabbitmq")
    assert stored is not None and {"user", "password", "vhost"} <= stored.keys()
    wrong = "wrong-" + unique("password")
    env = {**rabbit_env, "RABBITMQ_PASSWORD": wrong, "RABBITMQ_USER": "nobody", "RABBITMQ_VHOST": "/"}
    async with running_app(env=env, plugins={"vault-test": vault}) as (_app, client):
        await wait_healthy(client)
        assert "rabbitmq" in vault.asked
        response = await client.post(
            "/examples/messaging/publish", query_string={"queue_name": queue_name}, json={"via": "vault"}
        )
        assert response.status_code == 200
        # The vhost came from Vault too: the queue lives in Vault's vhost.
        listed = await (await client.get("/examples/messaging/queues")).get_json()
        assert listed["vhost"] == stored["vhost"]
        assert queue_name in [entry["name"] for entry in listed["queues"]]
