"""Opt-in API keys: the ``X-API-Key`` header the reference contract declares.

Enforced when ``DEVSTACK_API_KEYS`` lists keys or ``DEVSTACK_API_KEYS_SECRET`` names a
secret of the secrets provider (``host.secrets(name)``, e.g. Vault ``secret/devstack-api``
with a ``keys`` field of comma-separated keys). Keys from both are accepted; the secret
is re-read every ``DEVSTACK_API_KEYS_REFRESH`` seconds (in the background; the last keys
read stay valid while the provider is down). Paths in ``DEVSTACK_API_KEY_EXEMPT``
(default /health/live, /health/ready, /metrics) and CORS preflights need no key.

Keys are compared in constant time (``hmac.compare_digest``, against every key). While
keys are enforced but none is known (the secret was never readable and no static key is
set) every request without an exemption is refused: fail closed.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Awaitable, Callable

from devstack.foundation.errors import Unauthorized
from devstack.observability.logs import register_secret

log = logging.getLogger("devstack.apikeys")

SecretsReader = Callable[[str], Awaitable[dict[str, str] | None]]
KEYS_FIELD = "keys"
RETRY_AFTER_FAILURE = 5.0


def split_keys(value: str) -> list[bytes]:
    return [key.strip().encode() for key in value.split(",") if key.strip()]


class ApiKeys:
    """The accepted keys of one application and the check of one request."""

    def __init__(
        self,
        static_keys: list[str],
        secret_name: str,
        exempt: list[str],
        refresh: float,
        read_secret: SecretsReader,
    ) -> None:
        self.static_keys = [key.encode() for key in static_keys if key]
        self.secret_name = secret_name
        self.exempt = frozenset(exempt)
        self.refresh = refresh
        self.enabled = bool(self.static_keys) or bool(secret_name)
        self._read_secret = read_secret
        self._secret_keys: list[bytes] = []
        self._loaded_at = 0.0
        self._next_load = 0.0
        self._loading: asyncio.Task[None] | None = None
        for key in static_keys:
            register_secret(key)

    def keys(self) -> list[bytes]:
        return self.static_keys + self._secret_keys

    def exempted(self, path: str) -> bool:
        return path in self.exempt

    async def load(self) -> None:
        """Read the keys secret once (at startup, then on refresh)."""
        if not self.secret_name:
            return
        try:
            secret = await self._read_secret(self.secret_name)
        except Exception as exc:  # noqa: BLE001 - provider down: keep the last keys
            self._next_load = time.monotonic() + RETRY_AFTER_FAILURE
            log.warning(
                "API keys secret could not be read",
                extra={"service": self.secret_name, "error_type": type(exc).__name__},
            )
            return
        if secret is None or not secret.get(KEYS_FIELD):
            self._next_load = time.monotonic() + RETRY_AFTER_FAILURE
            log.warning("API keys secret has no keys", extra={"service": self.secret_name})
            return
        keys = split_keys(secret[KEYS_FIELD])
        for key in keys:
            register_secret(key.decode())
        self._secret_keys = keys
        self._loaded_at = time.monotonic()
        self._next_load = self._loaded_at + self.refresh

    async def _maybe_refresh(self) -> None:
        if not self.secret_name or time.monotonic() < self._next_load:
            return
        if self._loading is not None and not self._loading.done():
            if not self._secret_keys:
                await asyncio.shield(self._loading)
            return
        self._loading = asyncio.ensure_future(self.load())
        if not self._secret_keys:  # nothing known yet: wait for the first read
            await asyncio.shield(self._loading)

    async def check(self, path: str, offered: str | None) -> None:
        """Raise 401 unless ``offered`` is one of the keys (or the path is exempt)."""
        if path in self.exempt:
            return
        if self.secret_name:
            await self._maybe_refresh()
        if not offered:
            raise Unauthorized("API key required: send it in the X-API-Key header", headers=CHALLENGE)
        candidate = offered.encode("utf-8", "surrogateescape")
        matched = False
        for key in self.keys():
            matched |= hmac.compare_digest(candidate, key)
        if not matched:
            raise Unauthorized("Invalid API key", headers=CHALLENGE)


CHALLENGE = {"WWW-Authenticate": 'ApiKey header="X-API-Key"'}
