"""The Host: everything a plugin gets from core, passed to every hook as ``host``."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Iterable
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol, TypeVar

from pydantic_settings import BaseSettings

from devstack.foundation.context import current_request_id
from devstack.foundation.masking import sensitive_name
from devstack.foundation.settings import CoreSettings, new_instance_id
from devstack.kit.breakers import Breakers
from devstack.kit.cache import CORE_OWNER, CacheBackend, MemoryCache, OwnedCache
from devstack.observability.logs import register_secret
from devstack.plugin_system.hookcalls import HookCalls
from devstack.plugin_system.records import PluginRecord

log = logging.getLogger("devstack.host")

SettingsT = TypeVar("SettingsT", bound=BaseSettings)
StateT = TypeVar("StateT")

SERVICE_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,50}$")
MAX_SECRET_NAMES = 1024


class Plugins(Protocol):
    """What the Host needs of the plugin registry (which builds on the Host's module
    rather than the other way round): the hook calls and who is loaded."""

    calls: HookCalls
    records: dict[str, PluginRecord]

    def loaded_names(self) -> list[str]: ...


class Host:
    """Core's services for plugins: settings, secrets, shared cache, backend guard."""

    def __init__(self, core_settings: CoreSettings, registry: Plugins) -> None:
        self.core_settings = core_settings
        self._registry = registry
        self._settings: dict[type[BaseSettings], BaseSettings] = {}
        self.cache: CacheBackend = MemoryCache()
        """The provider's backend itself; plugins write through ``cache_for(owner)``."""
        self.instance_id = core_settings.instance_id or new_instance_id()
        """This instance's identity in shared state (``DEVSTACK_INSTANCE_ID`` or generated)."""
        self.breakers = Breakers(core_settings.breaker_failure_threshold, core_settings.breaker_reset_timeout)
        self._states: dict[type, Any] = {}
        self._secret_names: set[str] = set()
        self._openings: dict[str, asyncio.Event] = {}
        if core_settings.api_keys_secret:
            self.declare_secrets([core_settings.api_keys_secret])

    # settings -------------------------------------------------------------------------
    def settings(self, model: type[SettingsT]) -> SettingsT:
        """The instance of a settings model (created once, from the environment)."""
        instance = self._settings.get(model)
        if instance is None:
            instance = model()
            self._settings[model] = instance
        return instance  # type: ignore[return-value]

    # plugin state -----------------------------------------------------------------------
    def state(self, kind: type[StateT], create: Callable[[], StateT] | None = None) -> StateT:
        """This application's one object of type ``kind`` (a plugin's service: pools,
        clients, collectors), made by ``create()`` on first use.

        ``host.state(PostgresService, lambda: PostgresService(host))`` in every hook of the
        plugin returns the same object for one application, a new one for another
        application (each test app, each worker). Without ``create`` a missing state
        raises ``LookupError`` naming the type.
        """
        value = self._states.get(kind)
        if value is None:
            if create is None:
                raise LookupError(f"no {kind.__qualname__} state in this application")
            value = create()
            if not isinstance(value, kind):
                raise TypeError(f"state for {kind.__qualname__} is a {type(value).__qualname__}")
            self._states[kind] = value
        return value  # type: ignore[no-any-return]

    # secrets --------------------------------------------------------------------------
    async def secrets(self, service: str) -> dict[str, str] | None:
        """Credentials of ``service`` from the installed secrets providers, or None.

        None means no provider knows the service: the plugin uses its own settings.
        Raises ``ServiceUnavailable`` when a provider is down with nothing cached.
        """
        if not SERVICE_NAME.match(service):
            raise ValueError("invalid service name")
        self.declare_secrets([service])
        _provider, result = await self._registry.calls.first_answer("devstack_secrets", service=service, host=self)
        if result is None:
            return None
        credentials = {str(k): str(v) for k, v in result.items()}
        for key, value in credentials.items():
            if sensitive_name(key):
                register_secret(value)  # the log redaction masks it from now on
        return credentials

    def declare_secrets(self, services: Iterable[str]) -> None:
        """Add names to :meth:`protected_secrets` (core passes what each plugin's
        ``devstack_secret_services`` names; every ``secrets()`` call adds its own)."""
        for service in services:
            if service in self._secret_names or not SERVICE_NAME.match(service):
                continue
            if len(self._secret_names) >= MAX_SECRET_NAMES:
                log.warning("too many secret names; not protecting more", extra={"limit": MAX_SECRET_NAMES})
                return
            self._secret_names.add(service)

    def protected_secrets(self) -> frozenset[str]:
        """The secrets devstack itself reads: the API-keys secret (DEVSTACK_API_KEYS_SECRET),
        the names plugins declare and every name asked of :meth:`secrets`. A secrets
        provider refuses to overwrite them through its API and masks every value it shows."""
        return frozenset(self._secret_names)

    # background opening ---------------------------------------------------------------
    def opening(self, service: str, first_attempt: asyncio.Event) -> None:
        """Note that ``service`` is being opened in the background; ``first_attempt`` is set
        once its first attempt has settled (opened or failed). See :meth:`openings_settled`."""
        self._openings[service] = first_attempt

    async def openings_settled(self, timeout: float) -> list[str]:
        """Wait, at most ``timeout`` seconds, until every opening's first attempt has settled
        (``devstack health`` judges only then); returns the services still opening."""
        waiting = {
            asyncio.ensure_future(event.wait()): service
            for service, event in self._openings.items()
            if not event.is_set()
        }
        if not waiting:
            return []
        _done, pending = await asyncio.wait(waiting, timeout=timeout)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        return sorted(waiting[task] for task in pending)

    # backend calls --------------------------------------------------------------------
    def backend(self, service: str, timeout: float | None = None) -> AbstractAsyncContextManager[None]:
        """Guard a backend call: ``async with host.backend("postgres"): ...``.

        Applies the service's circuit breaker and a timeout (default from settings); a
        backend failure inside leaves as a 503 ``ServiceUnavailable`` naming the service,
        an error about the request as a 4xx/422, never counted (``Breakers.guard``).
        The guard itself, not a context manager around it: one layer less on every call.
        """
        return self.breakers.guard(service, timeout or self.core_settings.backend_timeout)

    def breaker_state(self, service: str) -> str:
        """The state of ``service``'s circuit breaker: ``closed``, ``opened`` or ``half-opened``."""
        return self.breakers.state(service)

    @property
    def backend_timeout(self) -> float:
        """Seconds :meth:`backend` allows a call by default (``DEVSTACK_BACKEND_TIMEOUT``)."""
        return self.core_settings.backend_timeout

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
