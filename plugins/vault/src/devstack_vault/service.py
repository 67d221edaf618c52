"""The Vault client of one application and every Vault operation the plugin performs.

hvac is synchronous: each call runs in a worker thread (``asyncio.to_thread``) inside
``host.backend("vault")`` (circuit breaker, timeout, 503 on failure). Answers that are
the caller's business rather than Vault's health (404 missing secret, 400 bad
ciphertext) are turned into return values inside the thread, so that they never count
as backend failures.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import hvac
from hvac import exceptions as hvac_errors

from devstack.api import ApiError, Host
from devstack_vault.auth import TokenKeeper
from devstack_vault.metrics import VaultMetrics
from devstack_vault.names import safe_name
from devstack_vault.secrets import Secret, SecretsCache
from devstack_vault.settings import VaultSettings
from devstack_vault.transport import session_for

log = logging.getLogger("devstack_vault")

T = TypeVar("T")

SERVICE = "vault"


@dataclass(frozen=True)
class SecretVersion:
    data: dict[str, Any]
    version: int
    created_time: str


@dataclass(frozen=True)
class IssuedCertificate:
    certificate: str
    private_key: str
    ca_chain: list[str]
    serial: str
    not_after: datetime


class Undecryptable(Exception):
    """Vault refused the ciphertext, or the plaintext is not UTF-8 text."""


class VaultService:
    """One hvac client (one requests session), its token keeper and the secrets cache."""

    def __init__(self, host: Host, settings: VaultSettings) -> None:
        self.host = host
        self.settings = settings
        self.metrics = VaultMetrics()
        address = settings.addr.rstrip("/")
        ca_cert = str(settings.ca_cert) if settings.ca_cert is not None else None
        session = session_for(address, ca_cert)
        # token="" (never None): hvac would otherwise read VAULT_TOKEN or ~/.vault-token itself
        self.client = hvac.Client(
            url=address,
            token="",
            timeout=settings.timeout,
            session=session,
            verify=session.verify,
            proxies=session.proxies or None,
        )
        self.auth = TokenKeeper(self.client, settings, self.metrics)
        self.secrets = SecretsCache(self.fetch_secret, settings.secrets_ttl, self.metrics)

    def use_metrics(self, metrics: VaultMetrics) -> None:
        self.metrics = metrics
        self.auth.metrics = metrics
        self.secrets.metrics = metrics

    # the guarded call -----------------------------------------------------------------
    async def call(self, operation: str, fn: Callable[[hvac.Client], T], *, authenticated: bool = True) -> T:
        """Run ``fn(client)`` in a thread under the vault guard, with a valid token."""
        work: Callable[[], T] = (lambda: self.auth.run(fn)) if authenticated else (lambda: fn(self.client))
        async with self.metrics.calls.measured(operation), self.host.backend(SERVICE, timeout=self.settings.timeout):
            return await asyncio.to_thread(work)

    # KV v2 ----------------------------------------------------------------------------
    def _kv_path(self, name: str) -> str:
        return safe_name(name)

    async def read_secret(self, name: str) -> dict[str, Any] | None:
        """The latest version's data of ``secret/<name>``, or None when it does not exist."""
        path = self._kv_path(name)

        def read(client: hvac.Client) -> dict[str, Any] | None:
            try:
                answer = client.secrets.kv.v2.read_secret_version(
                    path=path, mount_point=self.settings.kv_mount, raise_on_deleted_version=True
                )
            except hvac_errors.InvalidPath:
                return None
            data = answer["data"]["data"]
            return dict(data) if isinstance(data, dict) else None

        return await self.call("kv_read", read)

    async def read_version(self, name: str, version: int) -> SecretVersion | None:
        """One version of ``secret/<name>``, or None when missing, deleted or destroyed."""
        path = self._kv_path(name)

        def read(client: hvac.Client) -> SecretVersion | None:
            try:
                answer = client.secrets.kv.v2.read_secret_version(
                    path=path, version=version, mount_point=self.settings.kv_mount, raise_on_deleted_version=True
                )
            except hvac_errors.InvalidPath:
                return None
            body = answer["data"]
            metadata = body.get("metadata") or {}
            if not isinstance(body.get("data"), dict) or metadata.get("destroyed") or metadata.get("deletion_time"):
                return None
            return SecretVersion(dict(body["data"]), int(metadata["version"]), str(metadata["created_time"]))

        return await self.call("kv_read_version", read)

    async def write_secret(self, name: str, data: dict[str, str]) -> int:
        """Write a new version of ``secret/<name>``; returns its version number."""
        path = self._kv_path(name)

        def write(client: hvac.Client) -> int:
            answer = client.secrets.kv.v2.create_or_update_secret(
                path=path, secret=data, mount_point=self.settings.kv_mount
            )
            return int(answer["data"]["version"])

        version = await self.call("kv_write", write)
        self.secrets.invalidate(name)
        return version

    async def fetch_secret(self, name: str) -> Secret | None:
        """What the secrets cache stores: the secret's values as text."""
        data = await self.read_secret(name)
        if data is None:
            return None
        return {str(key): value if isinstance(value, str) else str(value) for key, value in data.items()}

    # transit --------------------------------------------------------------------------
    async def encrypt(self, plaintext: str) -> str:
        encoded = base64.b64encode(plaintext.encode("utf-8")).decode("ascii")

        def encrypt(client: hvac.Client) -> str:
            answer = client.secrets.transit.encrypt_data(
                name=self.settings.transit_key, plaintext=encoded, mount_point=self.settings.transit_mount
            )
            return str(answer["data"]["ciphertext"])

        return await self.call("transit_encrypt", encrypt)

    async def decrypt(self, ciphertext: str) -> str:
        """The UTF-8 plaintext of ``ciphertext``; raises Undecryptable when Vault refuses it."""

        def decrypt(client: hvac.Client) -> str | None:
            try:
                answer = client.secrets.transit.decrypt_data(
                    name=self.settings.transit_key, ciphertext=ciphertext, mount_point=self.settings.transit_mount
                )
            except hvac_errors.InvalidRequest:
                return None
            return str(answer["data"]["plaintext"])

        encoded = await self.call("transit_decrypt", decrypt)
        if encoded is None:
            raise Undecryptable("Vault refused the ciphertext")
        try:
            return base64.b64decode(encoded, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise Undecryptable("the plaintext is not UTF-8 text") from None

    # PKI ------------------------------------------------------------------------------
    async def issue_certificate(self) -> IssuedCertificate:
        """A certificate and key from ``<pki mount>/issue/<role>`` for the configured names."""
        settings = self.settings
        params: dict[str, str] = {"ttl": settings.tls_ttl, "format": "pem"}
        if settings.tls_alt_names:
            params["alt_names"] = ",".join(settings.tls_alt_names)
        if settings.tls_ip_sans:
            params["ip_sans"] = ",".join(settings.tls_ip_sans)

        def issue(client: hvac.Client) -> IssuedCertificate:
            answer = client.secrets.pki.generate_certificate(
                name=settings.pki_role,
                common_name=settings.tls_common_name,
                extra_params=params,
                mount_point=settings.pki_mount,
            )
            data = answer["data"]
            chain = [str(pem) for pem in data.get("ca_chain") or [data["issuing_ca"]]]
            return IssuedCertificate(
                certificate=str(data["certificate"]),
                private_key=str(data["private_key"]),
                ca_chain=chain,
                serial=str(data["serial_number"]),
                not_after=datetime.fromtimestamp(int(data["expiration"]), UTC),
            )

        return await self.call("pki_issue", issue)

    # health ---------------------------------------------------------------------------
    def read_health(self) -> dict[str, Any]:
        """``sys/health`` with standbyok (thread side; not through the breaker)."""
        answer = self.client.sys.read_health_status(method="GET", standby_ok=True)
        if isinstance(answer, dict):
            return answer
        body = answer.json()  # sealed or uninitialised servers answer 5xx with the same JSON
        if not isinstance(body, dict):
            raise ValueError("unexpected sys/health answer")
        return body

    # token ----------------------------------------------------------------------------
    async def renew_token(self) -> str:
        return await self.call("token_renew", lambda _client: self.auth.renew(), authenticated=False)

    async def login(self) -> None:
        await self.call("authenticate", lambda _client: self.auth.ensure(), authenticated=False)

    async def shutdown(self) -> None:
        """Revoke a token obtained by AppRole login (bounded), then close the session."""
        if self.auth.method == "approle" and self.auth.authenticated:
            try:
                async with asyncio.timeout(min(2.0, self.settings.timeout)):
                    await self.call("token_revoke", lambda _client: self.auth.revoke(), authenticated=False)
            except (ApiError, TimeoutError):
                log.warning("vault token revocation at shutdown failed")
        self.client.adapter.close()


def service_of(host: Host) -> VaultService:
    """The application's VaultService (created by the first hook that needs it)."""
    return host.state(VaultService, lambda: VaultService(host, host.settings(VaultSettings)))
