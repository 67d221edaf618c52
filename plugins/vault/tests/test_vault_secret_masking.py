"""Secret reads mask by core's policy (names by pattern, any depth, URL passwords), and the
secrets devstack itself reads (host.protected_secrets) are never written nor shown.

Secrets are written straight into the shared OpenBao with hvac (as an operator would),
then read through devstack.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import hvac
import pytest
from quart.testing import QuartClient

from devstack import hookimpl
from devstack.api import Host
from devstack.testing import host_of, running_app

CLEAR = {"user": "svc-user", "port": 5432, "dsn_host": "db.internal"}
HIDDEN_VALUES = {
    "pass": "v-pass-1",
    "passwd": "v-passwd-2",
    "pwd": "v-pwd-3",
    "secret": "v-secret-4",
    "secret_id": "v-secretid-5",
    "api_key": "v-apikey-6",
    "private_key": "v-privkey-7",
    "keys": "v-keys-8,v-keys-9",
    "Db_Password": "v-password-10",
    "refresh_token": "v-token-11",
}
NESTED = {
    "db": {"host": "db.internal", "password": "v-nested-12", "replicas": [{"name": "r1", "pwd": "v-nested-13"}]},
    "dsn": "postgresql://app:v-url-14@db.internal:5432/app",
    "broker": "amqp://devstack:v-url-15@mq:5672/vh",
}
EVERY_HIDDEN = [*HIDDEN_VALUES.values(), "v-keys-8", "v-nested-12", "v-nested-13", "v-url-14", "v-url-15"]


def leaked(text: str) -> list[str]:
    return [value for value in EVERY_HIDDEN if value in text]


@pytest.fixture
def extra_scratch(root: hvac.Client) -> Iterator[list[str]]:
    """More unique secret names, deleted afterwards."""
    names = [f"devstack-test-{uuid.uuid4().hex[:12]}" for _ in range(3)]
    yield names
    for name in names:
        try:
            root.secrets.kv.v2.delete_metadata_and_all_versions(path=name, mount_point="secret")
        except hvac.exceptions.VaultError:
            pass


async def test_reads_mask_names_by_pattern_nested_values_and_url_passwords(
    shared_env: dict[str, str | None], root: hvac.Client, scratch: str
) -> None:
    root.secrets.kv.v2.create_or_update_secret(
        path=scratch, secret={**CLEAR, **HIDDEN_VALUES, **NESTED}, mount_point="secret"
    )
    base = f"/examples/vault/secret/{scratch}"
    async with running_app(env=shared_env) as (_app, client):
        whole = await (await client.get(base)).get_json()
        data = whole["data"]
        assert {key: data[key] for key in CLEAR} == CLEAR
        assert {key: data[key] for key in HIDDEN_VALUES} == dict.fromkeys(HIDDEN_VALUES, "***")
        assert data["db"] == {"host": "db.internal", "password": "***", "replicas": [{"name": "r1", "pwd": "***"}]}
        assert data["dsn"] == "postgresql://app:***@db.internal:5432/app"
        assert data["broker"] == "amqp://devstack:***@mq:5672/vh"

        version = await (await client.get(f"{base}/versions/1")).get_json()
        assert version["data"] == data

        keys = {key: await (await client.get(f"{base}/{key}")).get_json() for key in [*HIDDEN_VALUES, "dsn", "db"]}
        assert {key: body["value"] for key, body in keys.items() if key in HIDDEN_VALUES} == dict.fromkeys(
            HIDDEN_VALUES, "***"
        )
        assert keys["dsn"]["value"] == "postgresql://app:***@db.internal:5432/app"
        assert json.loads(keys["db"]["value"])["password"] == "***"
        assert (await (await client.get(f"{base}/user")).get_json())["value"] == "svc-user"

        # the cached answers (second reads) are the masked ones
        again = await client.get(base)
        assert again.headers["X-Cache"] == "HIT"
        assert (await again.get_json())["data"] == data
        texts = [json.dumps(whole), json.dumps(version), json.dumps(keys), await again.get_data(as_text=True)]
        assert leaked("".join(texts)) == []


class Declares:
    """Names the secrets it will ask for, as the database plugins do."""

    def __init__(self, *names: str) -> None:
        self.names = list(names)

    @hookimpl
    def devstack_secret_services(self, host: Host) -> list[str]:
        return self.names


async def assert_protected(client: QuartClient, name: str) -> None:
    """Writes refused with the 403 envelope; every value of every read masked."""
    base = f"/examples/vault/secret/{name}"
    refused = await client.post(base, json={"password": "hijack", "user": "attacker"})
    assert refused.status_code == 403
    body = await refused.get_json()
    assert body["error"] == "ForbiddenError"
    assert set(body) == {"error", "message", "status_code", "request_id"}
    whole = await (await client.get(base)).get_json()
    assert whole["data"] and set(whole["data"].values()) == {"***"}
    assert (await (await client.get(f"{base}/user")).get_json())["value"] == "***"
    version = await (await client.get(f"{base}/versions/1")).get_json()
    assert set(version["data"].values()) == {"***"}


async def test_declared_and_asked_secrets_are_protected(
    shared_env: dict[str, str | None], root: hvac.Client, extra_scratch: list[str]
) -> None:
    declared, asked, other = extra_scratch
    for name in extra_scratch:
        root.secrets.kv.v2.create_or_update_secret(
            path=name, secret={"user": f"user-{name}", "password": "pw"}, mount_point="secret"
        )
    async with running_app(env=shared_env, plugins={"declares": Declares(declared)}) as (app, client):
        host = host_of(app)
        await assert_protected(client, declared)

        # read (and cached) in clear before anything asked for it ...
        before = await (await client.get(f"/examples/vault/secret/{asked}")).get_json()
        assert before["data"]["user"] == f"user-{asked}"
        # ... then a plugin asks the secrets hook for it: from now on it is protected
        assert (await host.secrets(asked))["user"] == f"user-{asked}"
        assert asked in host.protected_secrets()
        cached = await client.get(f"/examples/vault/secret/{asked}")
        assert cached.headers["X-Cache"] == "HIT"
        assert set((await cached.get_json())["data"].values()) == {"***"}
        await assert_protected(client, asked)

        # a secret nobody reads stays writable
        written = await client.post(f"/examples/vault/secret/{other}", json={"user": "someone"})
        assert written.status_code == 200
    stored = root.secrets.kv.v2.read_secret_version(path=declared, mount_point="secret", raise_on_deleted_version=True)
    assert stored["data"]["data"] == {"user": f"user-{declared}", "password": "pw"}
    assert stored["data"]["metadata"]["version"] == 1


async def test_the_api_keys_secret_is_protected(
    shared_env: dict[str, str | None], root: hvac.Client, scratch: str
) -> None:
    root.secrets.kv.v2.create_or_update_secret(
        path=scratch, secret={"keys": "api-key-test-4711", "user": "keys-owner"}, mount_point="secret"
    )
    env = {**shared_env, "DEVSTACK_API_KEYS_SECRET": scratch}
    async with running_app(env=env, api_keys_secret=scratch) as (_app, client):
        headers = {"X-API-Key": "api-key-test-4711"}
        assert (await client.get("/", headers=headers)).status_code == 200
        refused = await client.post(f"/examples/vault/secret/{scratch}", json={"keys": "mine"}, headers=headers)
        assert refused.status_code == 403
        read = await client.get(f"/examples/vault/secret/{scratch}", headers=headers)
        assert await read.get_json() == {
            "service": scratch,
            "data": {"keys": "***", "user": "***"},
            "note": (await read.get_json())["note"],
        }
        assert "api-key-test-4711" not in await read.get_data(as_text=True)
    stored = root.secrets.kv.v2.read_secret_version(path=scratch, mount_point="secret", raise_on_deleted_version=True)
    assert stored["data"]["data"]["keys"] == "api-key-test-4711"


async def test_vault_protected_secrets_adds_names(
    shared_env: dict[str, str | None], root: hvac.Client, scratch: str
) -> None:
    root.secrets.kv.v2.create_or_update_secret(path=scratch, secret={"user": "u"}, mount_point="secret")
    async with running_app(env={**shared_env, "VAULT_PROTECTED_SECRETS": scratch}) as (_app, client):
        await assert_protected(client, scratch)
