"""Credentials come from the secrets hook: a real provider reading OpenBao's KV v2
(devstack.testkit's ``vault_secrets``).

The settings carry a wrong password; the broker checks passwords, so the app can only
connect with the one stored in Vault at ``secret/rabbitmq``.
"""

from __future__ import annotations

from rabbitmq_support import Management, unique

from devstack.testing import running_app
from devstack.testkit import VaultSecrets, wait_health


async def test_credentials_from_the_secrets_provider(
    rabbit_env: dict[str, str | None], vault_secrets: VaultSecrets, management: Management, queue_name: str
) -> None:
    stored = vault_secrets.read("rabbitmq")
    assert stored is not None and {"user", "password", "vhost"} <= stored.keys()
    wrong = "wrong-" + unique("password")
    env = {**rabbit_env, "RABBITMQ_PASSWORD": wrong, "RABBITMQ_USER": "nobody", "RABBITMQ_VHOST": "/"}
    async with running_app(env=env, plugins={"vault-test": vault_secrets}) as (_app, client):
        await wait_health(client, "rabbitmq", timeout=20)
        assert "rabbitmq" in vault_secrets.asked
        response = await client.post(
            "/examples/messaging/publish", query_string={"queue_name": queue_name}, json={"via": "vault"}
        )
        assert response.status_code == 200
        # The vhost came from Vault too: the queue lives in Vault's vhost.
        listed = await (await client.get("/examples/messaging/queues")).get_json()
        assert listed["vhost"] == stored["vhost"]
        assert queue_name in [entry["name"] for entry in listed["queues"]]
