"""The Host: everything a plugin gets from core, passed to every hook as ``host``."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from pydantic_settings import BaseSettings

from devstack.breakers import Breakers
from devstack.cache import CORE_OWNER, CacheBackend, MemoryCache, OwnedCache
from devstack.context import current_request_id
from devstack.logs import register_secret, sensitive_name
from devstack.plugins import PluginRegistry
from devstack.settings import CoreSettings, new_instance_id

log = logging.getLogger("devstack.host")

SettingsT = TypeVar("SettingsT", bound=BaseSettings)

SERVICE_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,50}$")


class Host:
    """Core's services for plugins: settings, secrets, shared cache, backend guard."""

    def __init__(self, core_settings: CoreSettings, registry: PluginRegistry) -> None:
        self.core_settings = core_settings
        self._registry = registry
        self._settings: dict[type[BaseSettings], BaseSettings] = {}
        self.cache: CacheBackend = MemoryCache()
        """The provider's backend itself; plugins write through ``cache_for(owner)``."""
        self.instance_id = core_settings.instance_id or new_instance_id()
        """This instance's identity in shared state (``DEVSTACK_INSTANCE_ID`` or generated)."""
        self.breakers = Breakers(core_settings.breaker_failure_threshold, core_settings.breaker_reset_timeout)
        self.extensions: dict[str, Any] = {}
        """Per-application state of plugins, keyed by plugin name (pools, clients, collectors)."""

    # settings -------------------------------------------------------------------------
    def settings(self, model: type[SettingsT]) -> SettingsT:
        """The instance of a settings model (created once, from the environment)."""
        instance = self._settings.get(model)
        if instance is None:
            instance = model()
            self._settings[model] = instance
        return instance  # type: ignore[return-value]

    # secrets --------------------------------------------------------------------------
    async def secrets(self, service: str) -> dict[str, str] | None:
        """Credentials of ``service`` from the installed secrets providers, or None.

        None means no provider knows the service: the plugin uses its own settings.
        Raises ``ServiceUnavailable`` when a provider is down with nothing cached.
        """
        if not SERVICE_NAME.match(service):
            raise ValueError("invalid service name")
        _provider, result = await self._registry.calls.first_answer("devstack_secrets", service=service, host=self)
        if result is None:
            return None
        credentials = {str(k): str(v) for k, v in result.items()}
        for key, value in credentials.items():
            if sensitive_name(key):
                register_secret(value)  # the log redaction masks it from now on
        return credentials

    # backend calls --------------------------------------------------------------------
    @asynccontextmanager
    async def backend(self, service: str, timeout: float | None = None) -> AsyncIterator[None]:
        """Guard a backend call: ``async with host.backend("postgres"): ...``.

        Applies the service's circuit breaker and a timeout (default from settings); a
        backend failure inside leaves as a 503 ``ServiceUnavailable`` naming the service,
        an error about the request as a 4xx/422, never counted (``Breakers.guard``).
        """
        async with self.breakers.guard(service, timeout or self.core_settings.backend_timeout):
            yield

    @staticmethod
    def request_id() -> str | None:
        """The current request's X-Request-ID, to pass to backends that take one."""
        return current_request_id()

    # shared cache ---------------------------------------------------------------------
    def cache_for(self, owner: str) -> OwnedCache:
        """The shared cache under ``owner``'s namespace: ``host.cache_for("vault")``.

        ``owner`` is ``"core"`` or the name of a discovered plugin; every key it writes
        is stored as ``<owner>:<key>``. The cache may be shared by many instances: put
        into the key what makes the answer valid (``devstack.api.fingerprint`` of the
        settings it depends on, ``host.instance_id`` when it is this instance's own).
        """
        if owner != CORE_OWNER and owner not in self._registry.records:
            raise ValueError(f"shared-cache owner {owner!r} is neither core nor a discovered plugin")
        return OwnedCache(owner, lambda: self.cache)

    def plugin_names(self) -> list[str]:
        """Names of the plugins that loaded."""
        return self._registry.loaded_names()
