"""The session under hvac reads the environment once: proxies, CA bundle, and no more."""

from __future__ import annotations

import pytest
from devstack_vault.transport import session_for
from vault_support import vault_service

from devstack.testing import running_app

ADDRESS = "https://vault.internal:8200"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name in ("NO_PROXY", "no_proxy", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)


def test_the_session_no_longer_reads_the_environment() -> None:
    session = session_for(ADDRESS, None)
    assert session.trust_env is False
    assert session.verify is True
    assert session.proxies == {}


def test_a_proxy_of_the_environment_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    session = session_for(ADDRESS, None)
    assert session.proxies["https"] == "http://proxy.internal:3128"


def test_no_proxy_excludes_vault(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "localhost,.internal")
    assert session_for(ADDRESS, None).proxies == {}


def test_ca_bundle_of_the_environment_unless_vault_cacert(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CURL_CA_BUNDLE", "/etc/ssl/curl.pem")
    assert session_for(ADDRESS, None).verify == "/etc/ssl/curl.pem"
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/requests.pem")
    assert session_for(ADDRESS, None).verify == "/etc/ssl/requests.pem"
    assert session_for(ADDRESS, "/etc/vault/ca.pem").verify == "/etc/vault/ca.pem"


async def test_the_plugin_client_uses_it(shared_env: dict[str, str | None]) -> None:
    async with running_app(env=shared_env) as (app, client):
        service = vault_service(app)
        assert service.client.adapter.session.trust_env is False
        assert service.client.adapter._kwargs["verify"] == service.client.adapter.session.verify
        response = await client.get("/health/vault")
        assert response.status_code == 200
        assert (await response.get_json())["status"] == "healthy"
