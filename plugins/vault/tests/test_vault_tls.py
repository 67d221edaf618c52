"""devstack_tls_certificate: a certificate from Vault's PKI that a real TLS client accepts."""

from __future__ import annotations

import asyncio
import os
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import hvac
import pytest
from devstack_vault import plugin

from devstack.api import TlsMaterial
from devstack.testing import ServerProcess, free_port, host_of, running_app

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"


def pki_ca(root: hvac.Client) -> str:
    answer = root.secrets.pki.read_ca_certificate(mount_point="pki")
    assert "BEGIN CERTIFICATE" in answer
    return str(answer)


def services_ca() -> str:
    """The CA file scripts/services.sh wrote (VAULT_CA_CERT of .run/devstack.env)."""
    path = os.environ.get("VAULT_CA_CERT")
    if not path:
        pytest.fail("VAULT_CA_CERT not set: source .run/devstack.env")
    return Path(path).read_text()


@asynccontextmanager
async def https_server(material: TlsMaterial, workdir: Path) -> AsyncIterator[int]:
    """A tiny HTTPS server (asyncio + ssl) presenting ``material``; yields its port."""
    cert = workdir / "cert.pem"
    key = workdir / "key.pem"
    cert.write_text(material.certificate_pem + material.ca_chain_pem)  # leaf + chain, as core serves them
    key.write_text(material.private_key_pem)
    key.chmod(0o600)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(RESPONSE)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=context)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def peer_certificate(port: int, ca_pem: str, server_hostname: str) -> dict[str, object]:
    context = ssl.create_default_context(cadata=ca_pem)
    _reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname=server_hostname)
    try:
        sslobj = writer.get_extra_info("ssl_object")
        peer: dict[str, object] = sslobj.getpeercert()
        return peer
    finally:
        writer.close()


async def test_issued_certificate_serves_https(
    shared_env: dict[str, str | None], root: hvac.Client, tmp_path: Path
) -> None:
    ca = pki_ca(root)
    assert services_ca().strip() == ca.strip()  # .run/vault-ca.pem, written by services.sh, is the PKI's CA
    async with running_app(env=shared_env) as (app, _client):
        before = datetime.now(UTC)
        material = await plugin.devstack_tls_certificate(host=host_of(app))
    assert isinstance(material, TlsMaterial)
    assert material.not_after.tzinfo is not None
    assert abs(material.not_after - (before + timedelta(hours=72))) < timedelta(minutes=2)
    assert material.serial.count(":") >= 8
    assert ca.strip() in material.ca_chain_pem
    assert material.certificate_pem.count("BEGIN CERTIFICATE") == 1
    assert "PRIVATE KEY" in material.private_key_pem

    async with https_server(material, tmp_path) as port:
        peer = await peer_certificate(port, ca, "localhost")
        assert ("commonName", "localhost") in [item for rdn in peer["subject"] for item in rdn]  # type: ignore[attr-defined]
        names = peer["subjectAltName"]
        assert ("DNS", "localhost") in names  # type: ignore[operator]
        assert ("IP Address", "127.0.0.1") in names  # type: ignore[operator]
        not_after = ssl.cert_time_to_seconds(str(peer["notAfter"]))
        assert abs(not_after - material.not_after.timestamp()) < 1
        assert str(peer["serialNumber"]).lower() == material.serial.replace(":", "").lower()

        trust = ssl.create_default_context(cadata=ca)
        async with httpx.AsyncClient(verify=trust) as http:
            by_name = await http.get(f"https://localhost:{port}/")
            assert by_name.status_code == 200
            assert by_name.text == "ok"
            by_ip = await http.get(f"https://127.0.0.1:{port}/")
            assert by_ip.status_code == 200

        # without the PKI CA as trust anchor the chain does not verify
        with pytest.raises(ssl.SSLCertVerificationError):
            await peer_certificate(port, ssl_default_bundle(), "localhost")
        # and a name the certificate does not carry is refused
        with pytest.raises(ssl.SSLCertVerificationError):
            await peer_certificate(port, ca, "example.com")


def ssl_default_bundle() -> str:
    """A CA bundle that does not contain the dev PKI root (certifi's)."""
    import certifi

    return Path(certifi.where()).read_text()


async def test_configured_names_and_ttl(shared_env: dict[str, str | None], root: hvac.Client, tmp_path: Path) -> None:
    env = {**shared_env, "VAULT_TLS_TTL": "2h", "VAULT_TLS_ALT_NAMES": "api.localhost,devstack.localhost"}
    async with running_app(env=env) as (app, _client):
        material = await plugin.devstack_tls_certificate(host=host_of(app))
    assert material is not None
    assert abs(material.not_after - (datetime.now(UTC) + timedelta(hours=2))) < timedelta(minutes=2)
    async with https_server(material, tmp_path) as port:
        peer = await peer_certificate(port, pki_ca(root), "api.localhost")
        names = peer["subjectAltName"]
        assert ("DNS", "api.localhost") in names  # type: ignore[operator]
        assert ("DNS", "devstack.localhost") in names  # type: ignore[operator]


async def test_two_certificates_differ(shared_env: dict[str, str | None]) -> None:
    async with running_app(env=shared_env) as (app, _client):
        first = await plugin.devstack_tls_certificate(host=host_of(app))
        second = await plugin.devstack_tls_certificate(host=host_of(app))
    assert first is not None and second is not None
    assert first.serial != second.serial
    assert first.private_key_pem != second.private_key_pem


async def test_pki_disabled(shared_env: dict[str, str | None]) -> None:
    async with running_app(env={**shared_env, "VAULT_PKI_ENABLED": "false"}) as (app, _client):
        assert await plugin.devstack_tls_certificate(host=host_of(app)) is None


def test_devstack_serves_https_with_the_vault_certificate(shared_env: dict[str, str | None], root: hvac.Client) -> None:
    """End to end: `devstack serve` with TLS on gets its certificate from this plugin."""
    https_port = free_port()
    env = {key: value for key, value in shared_env.items() if value is not None}
    env.update({"DEVSTACK_TLS_ENABLED": "true", "DEVSTACK_HTTPS_PORT": str(https_port), "DEVSTACK_PLUGINS": "vault"})
    trust = ssl.create_default_context(cadata=pki_ca(root))
    with ServerProcess(env=env) as server:
        response = httpx.get(f"https://localhost:{https_port}/health/vault", verify=trust, timeout=10)
        assert response.status_code == 200
        assert response.json()["status"] == "healthy"
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"https://localhost:{https_port}/health/", verify=ssl.create_default_context(), timeout=10)
        assert '"plugin": "vault"' in next(
            line for line in server.log().splitlines() if "TLS certificate obtained" in line
        )
