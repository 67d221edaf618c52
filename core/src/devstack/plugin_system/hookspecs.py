"""The hooks a devstack plugin may implement.

Every hook is named ``devstack_*`` and belongs to the pluggy project ``"devstack"``.
A plugin implements any subset of them with ``@devstack.hookimpl``; an implementation
of a hook that is not listed here is an error at startup (``check_pending``).

Calls and order: the host calls every hook through pluggy, so ``tryfirst``/``trylast``,
hook wrappers (``@hookimpl(wrapper=True)``), ``add_hookcall_monitoring`` and pluggy's
tracing work as pluggy documents them. Implementations run in pluggy's order: tryfirst
ones first, trylast ones last, the rest in plugin-name order (devstack registers plugins
in reverse name order, and pluggy calls the last registered first). Hooks that return an
awaitable are awaited in that order. Each plugin's implementations are isolated: one that
raises while the application is built or started marks its plugin failed (strict mode:
startup fails); at request time the failure is logged and counts as no answer.
``devstack_startup`` and ``devstack_shutdown`` run under ``DEVSTACK_PLUGIN_LIFECYCLE_TIMEOUT``.
``DEVSTACK_TRACE_PLUGINS=1`` logs every call: hook, plugin, answered, duration.

First answer wins for the provider hooks: ``devstack_cache_backend`` is a pluggy
``firstresult`` hook; ``devstack_secrets`` and ``devstack_tls_certificate`` are async, so the
host awaits their answers in order and stops at the first that is not None (pluggy's
``firstresult`` cannot see inside an awaitable). A plugin that wants to answer before
another (say, secrets before Vault) marks its implementation ``tryfirst=True``.
Conflicting contributions (two plugins claiming the same route or health check name)
are rejected at startup, naming both plugins.

Arguments: ``host`` is the :class:`devstack.api.Host` of the running application, the
only object a plugin needs from core (settings, secrets, shared cache, backend guard).
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

    from prometheus_client import CollectorRegistry
    from pydantic_settings import BaseSettings
    from quart import Blueprint

    from devstack.kit.cache import CacheBackend
    from devstack.plugin_system.contributions import HealthCheck, TlsMaterial
    from devstack.plugin_system.host import Host

PROJECT_NAME = "devstack"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)


@hookspec
def devstack_settings() -> type[BaseSettings] | None:
    """Declare the plugin's settings model.

    Called once per plugin while the application is being built, before any other hook.
    Returns a ``pydantic_settings.BaseSettings`` subclass with its own ``env_prefix``
    (for example ``POSTGRES_``), or None. The host instantiates it once (reading the
    environment), hands the instance back through ``host.settings(Model)`` and lists
    every field with its environment variable in ``devstack settings``. Fields whose
    type is ``SecretStr`` are masked wherever they are shown.
    """


@hookspec
def devstack_routes(host: Host) -> Blueprint | Iterable[Blueprint] | None:
    """Register the plugin's HTTP endpoints.

    Called once while the application is being built, after ``devstack_settings``.
    Returns one Quart ``Blueprint`` or several. Every route must be described by an
    operation of the plugin's contract (``devstack_contract``); a route that another
    plugin or core already serves (same path template and method) stops the startup
    with an error naming both plugins. Handlers raise ``devstack.foundation.errors.ApiError``
    subclasses for error answers; the host turns them into the JSON error envelope.
    """


@hookspec
def devstack_health_checks(host: Host) -> Iterable[HealthCheck] | None:
    """Declare the plugin's named health probes.

    Called once while the application is being built. Returns ``HealthCheck`` objects:
    a unique name (served at ``GET /health/{name}``), an async probe returning the
    service's health body (a dict whose ``status`` is ``"healthy"`` or ``"unhealthy"``),
    a timeout in seconds and whether the check is critical (a failing critical check
    makes ``GET /health/ready`` answer 503). The host runs the probes concurrently, each
    under its own timeout; a probe that raises or times out is reported unhealthy with
    a fixed sentence, never the exception's text. A name used twice is a startup error.
    """


@hookspec
def devstack_metrics(registry: CollectorRegistry, host: Host) -> None:
    """Define the plugin's Prometheus collectors.

    Called once while the application is being built, with the registry that
    ``GET /metrics`` exposes (a fresh one per application). The plugin creates its
    counters, gauges and histograms on ``registry`` and keeps them to update later.
    Returns nothing. Metric names must not clash with core's ``http_*``, ``app_info``,
    ``health_check_*`` and ``circuit_breaker_*`` families.
    """


@hookspec
def devstack_startup(host: Host) -> Awaitable[None] | None:
    """Open the plugin's pools, connections and background tasks.

    Called once, awaited, when the application starts serving (Quart's
    ``before_serving``), after every plugin's routes, checks, metrics and the shared
    cache are in place. A backend that is down must not make this raise: create the
    pool lazily or retry in the background and let the health check say unhealthy.
    If it raises anyway, or does not finish within ``DEVSTACK_PLUGIN_LIFECYCLE_TIMEOUT``
    seconds, the plugin is marked failed (fatal in strict mode): its routes answer 503
    and the other plugins serve. Returns None.
    """


@hookspec
def devstack_shutdown(host: Host) -> Awaitable[None] | None:
    """Close the plugin's pools, connections and background tasks.

    Called once, awaited, when the application stops serving (Quart's
    ``after_serving``, also on SIGTERM after in-flight requests have finished).
    Called for every plugin whose startup ran, even if another plugin's shutdown
    failed. Bounded by ``DEVSTACK_PLUGIN_LIFECYCLE_TIMEOUT`` (an overrun is logged and
    the other plugins still shut down). Returns None.
    """


@hookspec
def devstack_secrets(service: str, host: Host) -> Awaitable[Mapping[str, str] | None]:
    """Answer "what are the credentials of service X".

    Called through ``await host.secrets(service)``, the one call site in core that
    every plugin uses for its credentials. ``service`` is a validated name such as
    ``"postgres"`` or ``"redis-1"``. Returns (awaitably) the credentials mapping, or
    None when this provider has nothing for that service; providers are asked one
    after the other, in pluggy's order, until one answers (first answer wins). Raises
    ``devstack.foundation.errors.ServiceUnavailable`` when the provider's backend is down and it
    has no last known value. With no provider installed (or every provider answering
    None) ``host.secrets`` returns None and the plugin falls back to its own settings.
    """
    raise NotImplementedError  # a specification: plugins implement it


@hookspec
def devstack_secret_services(host: Host) -> Iterable[str] | None:
    """Name the secrets the plugin will ask ``host.secrets`` for.

    Called once while the application is being built, after ``devstack_settings``.
    Returns the service names the plugin will pass to ``host.secrets`` (its
    ``*_SECRETS_SERVICE`` setting, one name per Redis node, ...), or None. Core adds them
    to ``host.protected_secrets()`` (with ``DEVSTACK_API_KEYS_SECRET`` and every name
    actually asked of ``host.secrets``) before the first request, so that a secrets
    provider refuses to overwrite them through its API and masks every value of them it
    shows, before the plugin's first call.
    """


@hookspec(firstresult=True)
def devstack_cache_backend(host: Host) -> CacheBackend | None:
    """Provide the shared cache.

    Called once while the application is being built; ``firstresult``: the first
    implementation (in pluggy's order) that returns something other than None provides
    the cache. Returns an object implementing ``devstack.api.CacheBackend`` (async
    get/set/delete of bytes with a TTL), or None. Without any, core uses an in-process
    memory cache. Core uses it for response caching (``/health/all``) and plugins
    reach it through ``host.cache_for(<plugin name>)``, which puts every key under its
    owner's namespace. Connections are
    opened in the provider's own ``devstack_startup``; while its backend is down the
    cache raises ``devstack.api.CacheUnavailable`` and callers bypass it.
    """


@hookspec
def devstack_contract() -> Path | Traversable | Mapping[str, Any] | None:
    """Return the plugin's part of the OpenAPI document.

    Called once while the application is being built. Returns the path of a YAML (or
    JSON) file shipped as package data, or the already parsed mapping: an OpenAPI 3.1
    fragment with ``paths`` (one operation for every route the plugin serves), and
    optionally ``tags`` and ``components.schemas``. The host merges core's fragment with
    every plugin's into ``GET /openapi.json`` and validates requests against it (path,
    query and JSON body schemas; ``x-max-body-bytes`` on an operation caps its body).
    A path or schema name defined by two plugins with different content is an error.
    """


@hookspec
def devstack_root_info(host: Host) -> Mapping[str, Any] | None:
    """Contribute to ``GET /``: the plugin's own sections and its part of core's.

    Called when ``GET /`` is answered. Returns a mapping, or None to add nothing. A key
    that core's document has (``security``, ``examples``, ``note``) is merged into it:
    mappings recursively, lists as sorted unions, a text (``note``) in place of core's;
    for a text the first answer in pluggy's order wins. A new key whose value is a
    mapping adds a section the plugin owns (the redis plugin's ``redis_cluster``: names
    mapped to paths); any other value is ignored and logged once. Core names no backend
    in ``GET /``: every backend's section comes from its plugin, so the key set is the
    same on every request of one installation.
    """


@hookspec
def devstack_tls_certificate(host: Host) -> Awaitable[TlsMaterial | None]:
    """Provide the certificate of the HTTPS listener.

    Called, awaited, when TLS is enabled and ``devstack serve`` starts, and again
    whenever the current certificate is within its renewal window. Returns a
    ``devstack.api.TlsMaterial`` (PEM certificate chain, PEM private key, expiry), or
    None when this plugin does not provide certificates; the first answer wins. Without any provider the
    listener uses the certificate and key files from the settings.
    """
    raise NotImplementedError  # a specification: plugins implement it
