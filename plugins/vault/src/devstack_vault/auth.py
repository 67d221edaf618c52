"""Keeping a valid token on the hvac client: AppRole or token login, renewal, re-login.

Everything here is synchronous and runs in worker threads (``asyncio.to_thread``); a
lock makes sure concurrent threads that all see an expired token log in only once.
Tokens and secret ids are never logged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import hvac
from hvac import exceptions as hvac_errors

from devstack_vault.metrics import VaultMetrics
from devstack_vault.settings import VaultSettings

log = logging.getLogger("devstack_vault")

T = TypeVar("T")

# Vault's answers to a token that is expired, revoked or unknown
TOKEN_REFUSED = (hvac_errors.Forbidden, hvac_errors.Unauthorized)
# Vault's answers to AppRole credentials it does not accept (or an AppRole mount it lacks)
LOGIN_REFUSED = (*TOKEN_REFUSED, hvac_errors.InvalidRequest, hvac_errors.InvalidPath)


class NotAuthenticated(Exception):
    """No configured credential was accepted by Vault."""


@dataclass(frozen=True)
class AppRoleCredentials:
    role_id: str
    secret_id: str


def read_first_line(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError:
        return ""


def approle_credentials(settings: VaultSettings) -> AppRoleCredentials | None:
    """role_id/secret_id from the settings, else from the files ``role-id`` and ``secret-id``.

    The files are read at every login, so credentials rewritten by ``scripts/services.sh``
    are picked up without a restart.
    """
    if settings.role_id and settings.secret_id is not None:
        return AppRoleCredentials(settings.role_id, settings.secret_id.get_secret_value())
    if settings.approle_dir is not None:
        role_id = read_first_line(settings.approle_dir / "role-id")
        secret_id = read_first_line(settings.approle_dir / "secret-id")
        if role_id and secret_id:
            return AppRoleCredentials(role_id, secret_id)
    return None


class TokenKeeper:
    """The token state of one hvac client: how it was obtained, its TTL, when to renew."""

    def __init__(self, client: hvac.Client, settings: VaultSettings, metrics: VaultMetrics) -> None:
        self.client = client
        self.settings = settings
        self.metrics = metrics
        self._lock = threading.Lock()
        self.generation = 0
        """Increases with every successful login; 0 until the first one."""
        self.method: str | None = None
        self.period = 0.0
        self.renewable = False
        self.expires_at: float | None = None

    # state read from the event loop (no I/O) ---------------------------------------------
    @property
    def authenticated(self) -> bool:
        return self.generation > 0

    def renew_due_in(self) -> float | None:
        """Seconds until the token should be renewed (<= 0: now), or None if it is not renewable."""
        if not self.renewable or self.expires_at is None or self.period <= 0:
            return None
        return self.expires_at - self.settings.renew_threshold * self.period - time.monotonic()

    # thread side ------------------------------------------------------------------------
    def run(self, call: Callable[[hvac.Client], T]) -> T:
        """``call(client)`` with a valid token; one re-login and retry when Vault refuses the token."""
        seen = self.ensure()
        try:
            return call(self.client)
        except TOKEN_REFUSED:
            if not self.settings.approle_configured:
                raise
            log.warning("vault refused the token; logging in again")
            self.login(seen)
            return call(self.client)

    def ensure(self) -> int:
        """Log in unless a login already succeeded; returns the current generation."""
        if self.generation == 0:
            self.login(0)
        return self.generation

    def login(self, seen: int) -> None:
        """Log in again unless another thread did since ``seen`` was read."""
        with self._lock:
            if self.generation != seen:
                return
            self._login_locked()

    def _login_locked(self) -> None:
        credentials = approle_credentials(self.settings)
        if credentials is not None:
            started = time.perf_counter()
            try:
                answer = self.client.auth.approle.login(
                    role_id=credentials.role_id,
                    secret_id=credentials.secret_id,
                    use_token=False,
                    mount_point=self.settings.approle_mount,
                )
            except LOGIN_REFUSED as exc:
                self.metrics.calls.observe("login", "rejected", time.perf_counter() - started)
                log.warning("vault AppRole login refused", extra={"error_type": type(exc).__name__})
            else:
                self.metrics.calls.observe("login", "ok", time.perf_counter() - started)
                auth = answer["auth"]
                self.client.token = auth["client_token"]
                self._set_lease("approle", float(auth["lease_duration"]), float(auth["lease_duration"]), auth)
                log.info("vault AppRole login succeeded", extra={"ttl_s": auth["lease_duration"]})
                return
        if self.settings.token is None:
            raise NotAuthenticated("no Vault credential was accepted")
        self.client.token = self.settings.token.get_secret_value()
        started = time.perf_counter()
        try:
            info = self.client.auth.token.lookup_self()["data"]
        except TOKEN_REFUSED:
            self.metrics.calls.observe("token_lookup", "rejected", time.perf_counter() - started)
            raise
        self.metrics.calls.observe("token_lookup", "ok", time.perf_counter() - started)
        remaining = float(info.get("ttl") or 0)
        period = float(info.get("creation_ttl") or remaining)
        self._set_lease("token", remaining, period, info)
        log.info("vault token accepted", extra={"ttl_s": remaining, "renewable": bool(info.get("renewable"))})

    def _set_lease(self, method: str, remaining: float, period: float, info: dict[str, object]) -> None:
        self.method = method
        self.period = period
        self.renewable = bool(info.get("renewable")) and remaining > 0
        self.expires_at = time.monotonic() + remaining if remaining > 0 else None
        self.generation += 1

    def renew(self) -> str:
        """Renew the token (thread side); returns the result label.

        When the renewal no longer extends the token (its max TTL is reached) or Vault
        refuses the token, logs in again with AppRole when configured.
        """
        seen = self.ensure()
        with self._lock:
            if self.generation != seen:
                return "skipped"
            try:
                answer = self.client.auth.token.renew_self()
            except TOKEN_REFUSED:
                if not self.settings.approle_configured:
                    raise
                self._login_locked()
                return "relogin"
            lease = float(answer["auth"]["lease_duration"])
            if lease <= self.settings.renew_threshold * self.period:
                if self.settings.approle_configured:
                    self._login_locked()
                    return "relogin"
                self.renewable = False
            self.expires_at = time.monotonic() + lease
            return "success"

    def revoke(self) -> None:
        """Revoke a token obtained by AppRole login (at shutdown)."""
        with self._lock:
            if self.method != "approle" or self.generation == 0:
                return
            self.client.auth.token.revoke_self()
            self.generation = 0
