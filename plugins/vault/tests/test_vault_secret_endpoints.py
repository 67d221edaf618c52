"""The secret endpoints against the shared OpenBao (KV v2 seeded by scripts/services.sh)."""

from __future__ import annotations

import json
import uuid

import hvac
import hvac.exceptions
import pytest

from devstack import hookimpl
from devstack.api import Host
from devstack.testing import running_app


async def test_read_secret_masks_and_caches(shared_env: dict[str, str | None]) -> None:
    async with running_app(env=shared_env) as (_app, client):
        first = await client.get("/examples/vault/secret/postgres")
        assert first.status_code == 200
        body = await first.get_json()
        assert set(body) == {"service", "data", "note"}
        assert body["service"] == "postgres"
        assert body["data"]["user"] == "appuser"
        assert body["data"]["database"] == "appdb"
        assert body["data"]["password"] == "***"
        assert first.headers["X-Cache"] == "MISS"

        second = await client.get("/examples/vault/secret/postgres")
        assert second.status_code == 200
        assert second.headers["X-Cache"] == "HIT"
        assert await second.get_json() == body

        mysql = await (await client.get("/examples/vault/secret/mysql")).get_json()
        assert mysql["data"]["root_password"] == "***"
        assert mysql["data"]["password"] == "***"


async def test_read_key(shared_env: dict[str, str | None]) -> None:
    async with running_app(env=shared_env) as (_app, client):
        response = await client.get("/examples/vault/secret/postgres/user")
        assert response.status_code == 200
        assert response.headers["X-Cache"] == "MISS"
        body = await response.get_json()
        assert set(body) == {"service", "key", "value", "note"}
        assert (body["service"], body["key"], body["value"]) == ("postgres", "user", "appuser")
        assert (await client.get("/examples/vault/secret/postgres/user")).headers["X-Cache"] == "HIT"

        password = await (await client.get("/examples/vault/secret/postgres/password")).get_json()
        assert password["value"] == "***"


async def test_token_keys_masked_everywhere(shared_env: dict[str, str | None], root: hvac.Client, scratch: str) -> None:
    root.secrets.kv.v2.create_or_update_secret(
        path=scratch,
        secret={"api_token": "t-123", "DB_Password": "p-123", "user": "u", "port": 5432},
        mount_point="secret",
    )
    async with running_app(env=shared_env) as (_app, client):
        whole = await (await client.get(f"/examples/vault/secret/{scratch}")).get_json()
        assert whole["data"] == {"api_token": "***", "DB_Password": "***", "user": "u", "port": 5432}
        token = await (await client.get(f"/examples/vault/secret/{scratch}/api_token")).get_json()
        assert token["value"] == "***"
        port = await (await client.get(f"/examples/vault/secret/{scratch}/port")).get_json()
        assert port["value"] == "5432"
        text = json.dumps(whole) + json.dumps(token)
        assert "t-123" not in text
        assert "p-123" not in text


async def test_missing_secret_and_key_are_404(shared_env: dict[str, str | None]) -> None:
    async with running_app(env=shared_env) as (_app, client):
        missing = await client.get("/examples/vault/secret/no-such-secret-here")
        assert missing.status_code == 404
        body = await missing.get_json()
        assert body["error"] == "ResourceNotFoundError"
        assert set(body) == {"error", "message", "status_code", "request_id", "details"}
        assert body["details"] == {
            "resource_type": "secret",
            "resource_id": "no-such-secret-here",
            "secret_path": "no-such-secret-here",
            "key": None,
        }
        # a 404 is not cached: asking again still goes to Vault and is still 404
        again = await client.get("/examples/vault/secret/no-such-secret-here")
        assert again.status_code == 404

        key = await client.get("/examples/vault/secret/postgres/no_such_key")
        assert key.status_code == 404
        key_body = await key.get_json()
        assert key_body["error"] == "ResourceNotFoundError"
        assert key_body["details"] == {
            "resource_type": "secret_key",
            "resource_id": "postgres/no_such_key",
            "secret_path": "postgres",
            "key": "no_such_key",
        }
        whole = await client.get("/examples/vault/secret/no-such-secret-here/user")
        assert whole.status_code == 404
        assert (await whole.get_json())["details"]["resource_type"] == "secret"


async def test_invalid_names_are_422(shared_env: dict[str, str | None]) -> None:
    async with running_app(env=shared_env) as (_app, client):
        for path in (
            "/examples/vault/secret/bad.name",
            "/examples/vault/secret/" + "a" * 51,
            "/examples/vault/secret/%2e%2e",
            "/examples/vault/secret/postgres/" + "k" * 101,
            "/examples/vault/secret/postgres/bad%20key",
            "/examples/vault/secret/postgres/versions/0",
            "/examples/vault/secret/postgres/versions/abc",
            "/examples/vault/secret/postgres/versions/-1",
        ):
            response = await client.get(path)
            assert response.status_code == 422, path
            body = await response.get_json()
            assert body["error"] == "ValidationError"
            assert body["details"]["validation_errors"], path


async def test_write_then_read_versions(shared_env: dict[str, str | None], root: hvac.Client, scratch: str) -> None:
    async with running_app(env=shared_env) as (_app, client):
        written = await client.post(f"/examples/vault/secret/{scratch}", json={"user": "a", "password": "p1"})
        assert written.status_code == 200
        assert await written.get_json() == {"service": scratch, "version": 1}

        read = await client.get(f"/examples/vault/secret/{scratch}")
        assert (await read.get_json())["data"] == {"user": "a", "password": "***"}
        assert (await client.get(f"/examples/vault/secret/{scratch}/user")).headers["X-Cache"] == "MISS"
        assert (await client.get(f"/examples/vault/secret/{scratch}")).headers["X-Cache"] == "HIT"

        second = await client.post(f"/examples/vault/secret/{scratch}", json={"user": "b", "password": "p2"})
        assert await second.get_json() == {"service": scratch, "version": 2}
        # the write dropped the cached answers of that secret
        after = await client.get(f"/examples/vault/secret/{scratch}")
        assert after.headers["X-Cache"] == "MISS"
        assert (await after.get_json())["data"]["user"] == "b"
        key = await client.get(f"/examples/vault/secret/{scratch}/user")
        assert key.headers["X-Cache"] == "MISS"
        assert (await key.get_json())["value"] == "b"
        stored = root.secrets.kv.v2.read_secret_version(
            path=scratch, mount_point="secret", raise_on_deleted_version=True
        )
        assert stored["data"]["data"] == {"user": "b", "password": "p2"}

        v1 = await client.get(f"/examples/vault/secret/{scratch}/versions/1")
        assert v1.status_code == 200
        body = await v1.get_json()
        assert set(body) == {"service", "version", "data", "created_time"}
        assert body["version"] == 1
        assert body["data"] == {"user": "a", "password": "***"}
        assert body["created_time"].startswith("20")

        assert (await client.get(f"/examples/vault/secret/{scratch}/versions/3")).status_code == 404
        assert (await client.get("/examples/vault/secret/no-such-secret-here/versions/1")).status_code == 404

        root.secrets.kv.v2.delete_secret_versions(path=scratch, versions=[1], mount_point="secret")
        deleted = await client.get(f"/examples/vault/secret/{scratch}/versions/1")
        assert deleted.status_code == 404
        assert (await deleted.get_json())["error"] == "ResourceNotFoundError"
        root.secrets.kv.v2.destroy_secret_versions(path=scratch, versions=[2], mount_point="secret")
        assert (await client.get(f"/examples/vault/secret/{scratch}/versions/2")).status_code == 404
        third = await client.post(f"/examples/vault/secret/{scratch}", json={"user": "c"})
        assert (await third.get_json())["version"] == 3
        assert (await (await client.get(f"/examples/vault/secret/{scratch}/versions/3")).get_json())["data"] == {
            "user": "c"
        }


async def test_write_rejects_bad_bodies(shared_env: dict[str, str | None], scratch: str) -> None:
    url = f"/examples/vault/secret/{scratch}"
    async with running_app(env=shared_env) as (_app, client):
        bodies: list[object] = [
            [],
            "text",
            {},
            {"k": 1},
            {"k": None},
            {"bad key": "v"},
            {"a/b": "v"},
            {"k": {"x": "v"}},
        ]
        for body in bodies:
            response = await client.post(url, json=body)
            assert response.status_code == 422, body
            assert (await response.get_json())["error"] == "ValidationError"
        assert (await client.post(url)).status_code == 422
        not_json = await client.post(url, data=b"{not json", headers={"Content-Type": "application/json"})
        assert not_json.status_code == 422
        text = await client.post(url, data=b"k=v", headers={"Content-Type": "text/plain"})
        assert text.status_code == 415
        large = await client.post(url, json={"k": "x" * 16000, "l": "y" * 16000, "m": "z" * 16000, "n": "w" * 20000})
        assert large.status_code == 413
        assert (await large.get_json())["error"] == "PayloadTooLargeError"
        # nothing was written
        assert (await client.get(url)).status_code == 404


class ReadsPostgres:
    """What the postgres plugin declares: it reads secret/postgres."""

    @hookimpl
    def devstack_secret_services(self, host: Host) -> list[str]:
        return ["postgres"]


async def test_protected_secrets_cannot_be_written(shared_env: dict[str, str | None], root: hvac.Client) -> None:
    before = root.secrets.kv.v2.read_secret_version(
        path="postgres", mount_point="secret", raise_on_deleted_version=True
    )
    async with running_app(env=shared_env, plugins={"reads-postgres": ReadsPostgres()}) as (_app, client):
        response = await client.post("/examples/vault/secret/postgres", json={"password": "hijack"})
        assert response.status_code == 403
        assert (await response.get_json())["error"] == "ForbiddenError"
    after = root.secrets.kv.v2.read_secret_version(path="postgres", mount_point="secret", raise_on_deleted_version=True)
    assert after["data"]["metadata"]["version"] == before["data"]["metadata"]["version"]


async def test_the_api_keys_secret_cannot_be_written(shared_env: dict[str, str | None], root: hvac.Client) -> None:
    """DEVSTACK_API_KEYS_SECRET is where every instance reads the accepted keys: a client
    holding one key must not be able to write others (or lock everyone else out)."""
    name = f"devstack-api-{uuid.uuid4().hex[:8]}"
    settings = {"api_keys": "k-static-1234", "api_keys_secret": name}
    async with running_app(env=shared_env, **settings) as (_app, client):
        response = await client.post(
            f"/examples/vault/secret/{name}", json={"keys": "k-minted-5678"}, headers={"X-API-Key": "k-static-1234"}
        )
        assert response.status_code == 403
        assert (await response.get_json())["error"] == "ForbiddenError"
    with pytest.raises(hvac.exceptions.InvalidPath):  # nothing was written
        root.secrets.kv.v2.read_secret_version(path=name, mount_point="secret", raise_on_deleted_version=True)


async def test_uncached_reads_with_ttl_zero(shared_env: dict[str, str | None]) -> None:
    async with running_app(env={**shared_env, "VAULT_RESPONSE_CACHE_TTL": "0"}) as (_app, client):
        for _ in range(3):
            response = await client.get("/examples/vault/secret/postgres")
            assert response.status_code == 200
            assert response.headers["X-Cache"] == "MISS"
