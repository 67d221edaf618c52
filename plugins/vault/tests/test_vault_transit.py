"""Transit encrypt/decrypt against the shared OpenBao (key devstack)."""

from __future__ import annotations

import base64

import hvac

from devstack.testing import running_app


async def test_round_trip(shared_env: dict[str, str | None], root: hvac.Client) -> None:
    async with running_app(env=shared_env) as (_app, client):
        for plaintext in ("hello devstack", "", "ünïcødé ✓ 日本語", "x" * 20000):
            encrypted = await client.post("/examples/vault/transit/encrypt", json={"plaintext": plaintext})
            assert encrypted.status_code == 200
            body = await encrypted.get_json()
            assert set(body) == {"ciphertext"}
            assert body["ciphertext"].startswith("vault:v")
            assert plaintext == "" or plaintext not in body["ciphertext"]
            # Vault itself decrypts it to the UTF-8 bytes of the text
            direct = root.secrets.transit.decrypt_data(name="devstack", ciphertext=body["ciphertext"])
            assert base64.b64decode(direct["data"]["plaintext"]).decode("utf-8") == plaintext

            decrypted = await client.post("/examples/vault/transit/decrypt", json=body)
            assert decrypted.status_code == 200
            assert await decrypted.get_json() == {"plaintext": plaintext}


async def test_bad_ciphertext_is_422(shared_env: dict[str, str | None]) -> None:
    async with running_app(env=shared_env) as (_app, client):
        good = await (await client.post("/examples/vault/transit/encrypt", json={"plaintext": "abc"})).get_json()
        version, payload = good["ciphertext"].rsplit(":", 1)
        tampered_payload = ("A" if payload[0] != "A" else "B") + payload[1:]
        for ciphertext in (
            "vault:v1:AAAAAAAA",  # Vault: invalid ciphertext length
            f"{version}:{tampered_payload}",  # authentication fails
            f"vault:v99:{payload}",  # key version too new
        ):
            response = await client.post("/examples/vault/transit/decrypt", json={"ciphertext": ciphertext})
            assert response.status_code == 422, ciphertext
            body = await response.get_json()
            assert body["error"] == "ValidationError"
            assert body["details"]["validation_errors"][0]["loc"] == ["body", "ciphertext"]
        for bad_body in (
            {"ciphertext": "not-a-ciphertext"},
            {"ciphertext": 5},
            {},
            {"ciphertext": "vault:v1:AAAA", "x": 1},
        ):
            response = await client.post("/examples/vault/transit/decrypt", json=bad_body)
            assert response.status_code == 422, bad_body
        assert (await client.post("/examples/vault/transit/encrypt", json={"text": "abc"})).status_code == 422
        assert (await client.post("/examples/vault/transit/encrypt", json={"plaintext": 1})).status_code == 422


async def test_non_utf8_plaintext_is_422(shared_env: dict[str, str | None], root: hvac.Client) -> None:
    binary = base64.b64encode(b"\xff\xfe\x00binary").decode()
    ciphertext = root.secrets.transit.encrypt_data(name="devstack", plaintext=binary)["data"]["ciphertext"]
    async with running_app(env=shared_env) as (_app, client):
        response = await client.post("/examples/vault/transit/decrypt", json={"ciphertext": ciphertext})
        assert response.status_code == 422
        assert (await response.get_json())["details"]["validation_errors"][0]["loc"] == ["body", "ciphertext"]


async def test_body_limit(shared_env: dict[str, str | None]) -> None:
    async with running_app(env=shared_env) as (_app, client):
        response = await client.post("/examples/vault/transit/encrypt", json={"plaintext": "x" * 70000})
        assert response.status_code == 413
        too_long = await client.post("/examples/vault/transit/encrypt", json={"plaintext": "x" * 40000})
        assert too_long.status_code == 422
