"""Token and AppRole login, renewal, and replacing a token Vault no longer accepts."""

from __future__ import annotations

import asyncio
from pathlib import Path

import hvac
from vault_support import PrivateBao, vault_env, vault_service

from devstack.testing import running_app
from devstack.testkit import eventually, metric


def lookup(server: PrivateBao | hvac.Client, token: str) -> dict[str, object] | None:
    """What Vault knows of ``token`` (asked with the root token), None when it is not valid."""
    client = server.root() if isinstance(server, PrivateBao) else server
    try:
        data: dict[str, object] = client.auth.token.lookup(token)["data"]
    except hvac.exceptions.VaultError:
        return None
    return data


async def test_approle_login_from_files(shared_env: dict[str, str | None], root: hvac.Client) -> None:
    async with running_app(env=shared_env) as (app, client):
        assert (await client.get("/examples/vault/secret/postgres")).status_code == 200
        service = vault_service(app)
        assert service.auth.method == "approle"
        info = lookup(root, service.client.token)
        assert info is not None
        assert "devstack" in info["policies"]  # type: ignore[operator]
        assert info["path"] == "auth/approle/login"
        token = service.client.token
    # the AppRole token is revoked at shutdown
    assert lookup(root, token) is None


async def test_approle_from_settings(shared: dict[str, str], root: hvac.Client) -> None:
    directory = Path(shared["VAULT_APPROLE_DIR"])
    env = vault_env(
        shared["VAULT_ADDR"],
        role_id=(directory / "role-id").read_text().strip(),
        secret_id=(directory / "secret-id").read_text().strip(),
    )
    async with running_app(env=env) as (app, client):
        assert (await client.get("/examples/vault/secret/mysql/user")).status_code == 200
        service = vault_service(app)
        assert service.auth.method == "approle"
        assert lookup(root, service.client.token) is not None


async def test_token_login(shared: dict[str, str]) -> None:
    async with running_app(env=vault_env(shared["VAULT_ADDR"], token=shared["VAULT_TOKEN"])) as (app, client):
        assert (await client.get("/examples/vault/secret/postgres")).status_code == 200
        assert vault_service(app).auth.method == "token"
        details = (await (await client.get("/health/vault")).get_json())["details"]
        assert details["auth_method"] == "token"


async def test_refused_approle_falls_back_to_token(shared: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "role-id").write_text("00000000-0000-0000-0000-000000000000\n")
    (tmp_path / "secret-id").write_text("11111111-1111-1111-1111-111111111111\n")
    env = vault_env(shared["VAULT_ADDR"], token=shared["VAULT_TOKEN"], approle_dir=str(tmp_path))
    async with running_app(env=env) as (app, client):
        assert (await client.get("/examples/vault/secret/postgres")).status_code == 200
        assert vault_service(app).auth.method == "token"
        assert await metric(client, "vault_operations_total", operation="login", result="rejected") >= 1


async def test_no_usable_credential_is_503(shared: dict[str, str], tmp_path: Path) -> None:
    env = vault_env(shared["VAULT_ADDR"], approle_dir=str(tmp_path / "missing"))
    async with running_app(env=env) as (app, client):
        response = await client.get("/examples/vault/secret/postgres")
        assert response.status_code == 503
        body = await response.get_json()
        assert body["details"]["service"] == "vault"
        assert not vault_service(app).auth.authenticated
    bad_token = vault_env(shared["VAULT_ADDR"], token="not-a-valid-token")
    async with running_app(env=bad_token) as (_app, client):
        assert (await client.get("/examples/vault/secret/postgres")).status_code == 503


async def test_revoked_token_replaced_by_approle_login(shared_env: dict[str, str | None], root: hvac.Client) -> None:
    async with running_app(env=shared_env) as (app, client):
        service = vault_service(app)
        await service.login()
        first = service.client.token
        root.auth.token.revoke(first)
        # an uncached call: Vault answers 403, the plugin logs in again and retries
        response = await client.post("/examples/vault/transit/encrypt", json={"plaintext": "after revoke"})
        assert response.status_code == 200
        assert service.client.token != first
        assert lookup(root, service.client.token) is not None
        assert await metric(client, "vault_operations_total", operation="login", result="ok") == 2


async def test_concurrent_calls_share_one_relogin(shared_env: dict[str, str | None], root: hvac.Client) -> None:
    async with running_app(env={**shared_env, "VAULT_RESPONSE_CACHE_TTL": "0"}) as (app, client):
        service = vault_service(app)
        await service.login()
        root.auth.token.revoke(service.client.token)
        answers = await asyncio.gather(*(client.get("/examples/vault/secret/postgres") for _ in range(6)))
        assert [a.status_code for a in answers] == [200] * 6
        assert await metric(client, "vault_operations_total", operation="login", result="ok") == 2


async def test_approle_token_renewed(tmp_path: Path) -> None:
    server = PrivateBao(tmp_path).start()
    try:
        server.seed_kv({"postgres": {"user": "appuser", "password": "pw"}})
        server.seed_approle(token_ttl="4s", token_max_ttl="2m")
        env = vault_env(server.addr, approle_dir=str(server.approle_dir), renew_threshold="0.5")
        async with running_app(env=env) as (app, client):
            service = vault_service(app)
            await eventually(lambda: service.auth.authenticated, timeout=5)
            token = service.client.token
            accessor = lookup(server, token)["accessor"]  # type: ignore[index]
            await asyncio.sleep(9)  # more than twice the token's TTL
            info = lookup(server, token)
            assert info is not None, "the token expired: it was not renewed"
            assert info["accessor"] == accessor
            assert int(info["ttl"]) > 0  # type: ignore[call-overload]
            assert service.client.token == token  # renewed, not replaced
            assert await metric(client, "vault_token_renewals_total", result="success") >= 3
            assert (await client.get("/examples/vault/secret/postgres")).status_code == 200
    finally:
        server.stop()


async def test_static_token_renewed(tmp_path: Path) -> None:
    server = PrivateBao(tmp_path).start()
    try:
        server.seed_kv({"postgres": {"user": "appuser", "password": "pw"}})
        created = server.root().auth.token.create(ttl="4s", renewable=True, policies=["default"])
        token = created["auth"]["client_token"]
        env = vault_env(server.addr, token=token, renew_threshold="0.5")
        async with running_app(env=env) as (app, client):
            service = vault_service(app)
            await eventually(lambda: service.auth.authenticated, timeout=5)
            await asyncio.sleep(9)
            info = lookup(server, token)
            assert info is not None, "the token expired: it was not renewed"
            assert await metric(client, "vault_token_renewals_total", result="success") >= 3
            assert service.auth.method == "token"
    finally:
        server.stop()


async def test_max_ttl_reached_logs_in_again(tmp_path: Path) -> None:
    server = PrivateBao(tmp_path).start()
    try:
        server.seed_kv({"postgres": {"user": "appuser", "password": "pw"}})
        server.seed_approle(token_ttl="3s", token_max_ttl="5s")
        env = vault_env(server.addr, approle_dir=str(server.approle_dir), renew_threshold="0.5")
        async with running_app(env=env) as (app, client):
            service = vault_service(app)
            await eventually(lambda: service.auth.authenticated, timeout=5)
            first = service.client.token
            await eventually(lambda: service.client.token != first, timeout=15)
            assert await metric(client, "vault_token_renewals_total", result="relogin") >= 1
            assert lookup(server, service.client.token) is not None
            assert (await client.get("/examples/vault/secret/postgres")).status_code == 200
    finally:
        server.stop()
