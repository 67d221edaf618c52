"""Building the application, in one direction.

1. load the plugins (entry points, allow and deny lists) and call the build-time hooks;
2. merge the contract (core's fragment and every surviving plugin's);
3. register the routes: core's, the plugins' blueprints, one per health check;
4. freeze the route table (and compile the contract's validators);
5. install the request pipeline, which reads that table;

then the lifecycle: plugins' startup and shutdown, API keys from the secrets provider,
the TLS certificate, the limiter's storage. Nothing is patched after it is read.
"""

from __future__ import annotations

import gc
import inspect
from collections.abc import AsyncGenerator
from functools import partial

from quart import Quart

from devstack import __version__
from devstack.foundation.settings import CoreSettings
from devstack.http.pipeline import Guards, RequestPipeline
from devstack.observability.logs import configure_logging
from devstack.observability.metrics import CoreMetrics
from devstack.plugin_system.hookcalls import PluginCall
from devstack.plugin_system.host import Host
from devstack.plugin_system.registry import PluginRegistry
from devstack.runtime import routing
from devstack.runtime.contributions import collect
from devstack.runtime.health import HealthChecks
from devstack.runtime.routes import CoreRoutes
from devstack.runtime.shutdown import InFlight, install_in_flight
from devstack.runtime.state import EXTENSION, DevstackState, state_of
from devstack.runtime.tls import TlsManager

__all__ = ["DevstackState", "create_app", "in_flight_of", "state_of"]

IN_FLIGHT = "devstack.in_flight"


def create_app(
    settings: CoreSettings | None = None,
    registry: PluginRegistry | None = None,
    *,
    discover: bool = True,
) -> Quart:
    """Build the devstack application.

    ``registry`` lets a caller (tests, embedding) pass plugins registered by hand;
    otherwise plugins come from the ``devstack.plugins`` entry points, filtered by the
    allow and deny lists of the settings.
    """
    settings = settings or CoreSettings()
    configure_logging(settings.log_level)
    registry = load_plugins(settings, discover) if registry is None else registry
    registry.check()
    app = new_quart_app(settings)
    state = new_state(app, settings, registry)
    found = collect(state)
    state.contract = routing.merge_contract(state, found)
    CoreRoutes(state).install(app, lambda rule, methods: routing.register_core_route(state, rule, methods))
    routing.register_plugin_routes(app, state, found)
    state.pipeline = RequestPipeline(settings, state.guards, routing.freeze(state), registry.failed_names)
    state.pipeline.install(app)
    install_lifecycle(app, state)
    return app


def load_plugins(settings: CoreSettings, discover: bool) -> PluginRegistry:
    registry = PluginRegistry(
        strict=settings.strict_plugins,
        lifecycle_timeout=settings.plugin_lifecycle_timeout,
        trace=settings.trace_plugins,
    )
    if discover:
        registry.discover(settings.plugins, settings.disable_plugins)
    return registry


def new_quart_app(settings: CoreSettings) -> Quart:
    app = Quart("devstack")
    # "/a//b" is not "/a/b": an empty path segment (from "//" or an encoded "%2F" at the
    # start of a parameter) is a 404, not a redirect to another resource
    app.url_map.merge_slashes = False
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.config["JSON_SORT_KEYS"] = False
    app.json.sort_keys = False  # type: ignore[attr-defined]
    return app


def new_state(app: Quart, settings: CoreSettings, registry: PluginRegistry) -> DevstackState:
    host = Host(settings, registry)
    metrics = CoreMetrics(__version__)
    host.breakers.add_state_listener(metrics.breaker_changed)
    state = DevstackState(
        settings=settings,
        registry=registry,
        host=host,
        metrics=metrics,
        health=HealthChecks(metrics, host.breakers),
        guards=Guards.from_settings(settings, metrics.registry, host.secrets),
    )
    app.extensions[EXTENSION] = state
    # the requests being served, counted around the whole ASGI app (kept beside the state:
    # the shutdown module that defines the counter reads the state)
    app.extensions[IN_FLIGHT] = install_in_flight(app)
    return state


def in_flight_of(app: Quart) -> InFlight:
    in_flight: InFlight = app.extensions[IN_FLIGHT]
    return in_flight


def install_lifecycle(app: Quart, state: DevstackState) -> None:
    # partials of coroutine functions: Quart awaits them (a plain lambda would be run in a thread)
    app.before_serving(partial(start_plugins, state))
    app.while_serving(partial(guards_lifecycle, state))
    app.after_serving(partial(stop_plugins, state))


def plugins_with_startup(state: DevstackState) -> set[str]:
    return {impl.plugin_name for impl in state.registry.hook.devstack_startup.get_hookimpls()}


async def start_plugins(state: DevstackState) -> None:
    with_startup = plugins_with_startup(state)
    for _owner, call in state.registry.calls.call("devstack_startup", host=state.host):
        if inspect.isawaitable(call):
            await call  # a failure or overrun fails that plugin (see devstack.plugin_system.hookcalls)
    state.started.extend(name for name in sorted(with_startup) if state.registry.is_loaded(name))
    # Everything built so far (modules, the app, plugin clients) lives as long as the
    # process: move it out of the collector's generations so full collections stay short.
    gc.collect()
    gc.freeze()


async def guards_lifecycle(state: DevstackState) -> AsyncGenerator[None, None]:
    """After the plugins' startup (Quart runs ``while_serving`` after ``before_serving``):
    API keys from the secrets provider, the TLS certificate; before their shutdown: stop
    renewing, close the limiter storage."""
    settings, guards = state.settings, state.guards
    if guards.api_keys.secret_name:
        await guards.api_keys.load()
    if settings.tls_enabled:
        state.tls = TlsManager(settings, state.registry, state.host)
        await state.tls.start()
    yield
    if state.tls is not None:
        await state.tls.stop()
    await guards.limiter.close()


async def stop_plugins(state: DevstackState) -> None:
    state.shutting_down = True
    with_startup = plugins_with_startup(state)
    for owner, call in state.registry.calls.call("devstack_shutdown", host=state.host):
        if owner in with_startup and owner not in state.started:
            if isinstance(call, PluginCall):
                call.close()  # its startup never ran: nothing to close
            continue
        if inspect.isawaitable(call):
            await call  # a failure or overrun is logged; the other plugins still shut down
    state.started.clear()
