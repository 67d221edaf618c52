"""Building the application: plugins, contract, routes, checks, metrics, lifecycle."""

from __future__ import annotations

import gc
import inspect
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from pydantic_settings import BaseSettings
from quart import Blueprint, Quart

from devstack import __version__
from devstack.api import HealthCheck
from devstack.contract import (
    ContractBuilder,
    ContractError,
    check_refs,
    core_fragment,
    load_fragment,
    operations,
    quart_rule_to_openapi,
    source_name,
)
from devstack.contract.validation import OperationValidator, compile_contract
from devstack.foundation.settings import CoreSettings
from devstack.foundation.settings_errors import invalid_settings
from devstack.kit.cache import CORE_OWNER
from devstack.observability.logs import configure_logging
from devstack.observability.metrics import CoreMetrics
from devstack.plugin_system.hookcalls import PluginCall
from devstack.plugin_system.host import Host
from devstack.plugin_system.registry import PluginError, PluginRecord, PluginRegistry
from devstack.runtime.health import HealthChecks

log = logging.getLogger("devstack.app")


@dataclass
class DevstackState:
    """Everything core keeps about a running application (``app.extensions["devstack"]``)."""

    settings: CoreSettings
    registry: PluginRegistry
    host: Host
    metrics: CoreMetrics
    health: HealthChecks
    contract: dict[str, Any] = field(default_factory=dict)
    validators: dict[tuple[str, str], OperationValidator] = field(default_factory=dict)
    rule_paths: dict[str, str] = field(default_factory=dict)
    route_owners: dict[tuple[str, str], str] = field(default_factory=dict)
    settings_models: dict[str, type[BaseSettings]] = field(default_factory=dict)
    contract_gaps: list[str] = field(default_factory=list)
    started: list[str] = field(default_factory=list)
    shutting_down: bool = False


def state_of(app: Quart) -> DevstackState:
    state: DevstackState = app.extensions["devstack"]
    return state


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (Blueprint, HealthCheck)):
        return [value]
    if isinstance(value, Iterable) and not isinstance(value, (str, bytes, dict)):
        return list(value)
    return [value]


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
    if registry is None:
        registry = PluginRegistry(
            strict=settings.strict_plugins,
            lifecycle_timeout=settings.plugin_lifecycle_timeout,
            trace=settings.trace_plugins,
        )
        if discover:
            registry.discover(settings.plugins, settings.disable_plugins)
    registry.check()

    app = Quart("devstack")
    # "/a//b" is not "/a/b": an empty path segment (from "//" or an encoded "%2F" at the
    # start of a parameter) is a 404, not a redirect to another resource
    app.url_map.merge_slashes = False
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.config["JSON_SORT_KEYS"] = False
    app.json.sort_keys = False  # type: ignore[attr-defined]

    host = Host(settings, registry)
    metrics = CoreMetrics(__version__)
    host.breakers.add_state_listener(metrics.breaker_changed)
    state = DevstackState(
        settings=settings, registry=registry, host=host, metrics=metrics, health=HealthChecks(metrics, host.breakers)
    )
    app.extensions["devstack"] = state

    from devstack.http import pipeline as middleware  # the app's own routes and request pipeline
    from devstack.runtime import routes as core_routes

    middleware.install(app)
    core_routes.install(app)

    collect_plugin_contributions(app, state)
    register_health_routes(app, state)
    finish_contract(app, state)
    install_lifecycle(app, state)
    return app


def collect_plugin_contributions(app: Quart, state: DevstackState) -> None:
    """Call the build-time hooks through pluggy and apply what survives."""
    registry, host, calls = state.registry, state.host, state.registry.calls

    for owner, model in calls.call("devstack_settings"):
        record = registry.records.get(owner or "")
        if record is None:
            continue
        try:
            host.settings(model)
        except ValidationError as exc:  # invalid environment for that plugin
            registry.fail(record, "settings", exc, "; ".join(invalid_settings(model, exc)))
            continue
        except Exception as exc:  # noqa: BLE001 - a settings model that cannot be built
            registry.fail(record, "settings", exc)
            continue
        state.settings_models[record.name] = model

    for _owner, names in calls.call("devstack_secret_services", host=host):
        host.declare_secrets(as_list(names))

    core = core_fragment()
    fragments: dict[str, dict[str, Any]] = {}
    for owner, source in calls.call("devstack_contract"):
        record = registry.records.get(owner or "")
        if record is None:
            continue
        try:
            fragment = load_fragment(source)
            check_refs(source_name(source) if not isinstance(source, Mapping) else record.name, fragment, core)
        except Exception as exc:  # noqa: BLE001
            registry.fail(record, "contract", exc)
            continue
        fragments[record.name] = fragment

    blueprints = calls.call("devstack_routes", host=host)
    checks = calls.call("devstack_health_checks", host=host)
    calls.call("devstack_metrics", registry=state.metrics.registry, host=host)
    for owner, cache in calls.call("devstack_cache_backend", host=host):  # firstresult: one answer
        host.cache = cache
        log.info("shared cache provided", extra={"plugin": owner, "cache": getattr(cache, "name", "?")})

    # apply routes and checks only for plugins that survived every build-time hook
    for owner, result in blueprints:
        record = registry.records.get(owner or "")
        if record is not None and record.status == "loaded":
            for blueprint in as_list(result):
                register_blueprint(app, state, record, blueprint)
    for owner, result in checks:
        record = registry.records.get(owner or "")
        if record is not None and record.status == "loaded":
            for check in as_list(result):
                try:
                    state.health.add(record.name, check)
                except ValueError as exc:
                    raise PluginError(str(exc)) from None
                record.health_checks.append(check.name)

    builder = ContractBuilder(core)
    for name, fragment in sorted(fragments.items()):
        if state.registry.records[name].status != "loaded":
            continue
        try:
            builder.add(name, fragment)
        except ContractError as exc:
            raise PluginError(str(exc)) from None
    state.contract = builder.build()


def register_blueprint(app: Quart, state: DevstackState, record: PluginRecord, blueprint: Blueprint) -> None:
    """Register one plugin blueprint, refusing any route that is already served."""
    if blueprint.name in app.blueprints:
        raise PluginError(f"blueprint name {blueprint.name!r} of plugin {record.name} is already registered")
    before = {rule.endpoint for rule in app.url_map.iter_rules()}
    app.register_blueprint(blueprint)
    for rule in app.url_map.iter_rules():
        if rule.endpoint in before:
            continue
        path = quart_rule_to_openapi(rule.rule)
        state.rule_paths[rule.rule] = path
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            key = (method, path)
            owner = state.route_owners.get(key)
            if owner is not None:
                raise PluginError(f"route {method} {path} is registered by both {owner} and {record.name}")
            state.route_owners[key] = record.name
            record.routes.append(f"{method} {path}")


def register_core_route(state: DevstackState, rule: str, methods: Iterable[str]) -> None:
    path = quart_rule_to_openapi(rule)
    state.rule_paths[rule] = path
    for method in methods:
        state.route_owners[(method, path)] = CORE_OWNER


def register_health_routes(app: Quart, state: DevstackState) -> None:
    """``GET /health/{name}`` for every declared check (a concrete route each)."""
    from devstack.runtime.routes import health_one

    for name in sorted(state.health.checks):
        rule = f"/health/{name}"
        key = ("GET", rule)
        if key in state.route_owners:
            raise PluginError(
                f"health check {name!r} of {state.health.owners[name]} "
                f"collides with the route of {state.route_owners[key]}"
            )
        app.add_url_rule(rule, f"health_{name}", health_one(name), methods=["GET"])
        register_core_route(state, rule, ["GET"])
        owner = state.health.owners[name]
        state.route_owners[key] = owner
        if owner in state.registry.records:
            state.registry.records[owner].routes.append(f"GET {rule}")
        state.contract["paths"].setdefault(rule, {"get": generic_health_operation(name)})
    state.contract["paths"] = dict(sorted(state.contract["paths"].items()))


def generic_health_operation(name: str) -> dict[str, Any]:
    """The operation of a health route whose plugin documents no more precise one."""
    return {
        "tags": ["Health Checks"],
        "summary": f"Health of {name}",
        "operationId": f"health_{name.replace('-', '_')}",
        "responses": {
            "200": {
                "description": "Always 200; status says healthy or unhealthy",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HealthBody"}}},
            },
            "401": {"$ref": "#/components/responses/Unauthorized"},
            "429": {"$ref": "#/components/responses/TooManyRequests"},
        },
    }


def finish_contract(app: Quart, state: DevstackState) -> None:
    """Compile validators and note routes without operations and operations without routes."""
    state.validators.clear()  # updated in place: the request pipeline holds a reference
    state.validators.update(compile_contract(state.contract))
    documented = set(operations(state.contract))
    served = set(state.route_owners)
    state.contract_gaps = [f"route {m} {p} has no operation in the contract" for m, p in sorted(served - documented)]
    state.contract_gaps += [f"operation {m} {p} has no route" for m, p in sorted(documented - served)]
    for gap in state.contract_gaps:
        log.warning("contract gap", extra={"gap": gap})
    if state.contract_gaps and state.settings.strict_plugins:
        raise PluginError("; ".join(state.contract_gaps))


def install_lifecycle(app: Quart, state: DevstackState) -> None:
    calls = state.registry.calls

    def starters() -> set[str]:
        return {impl.plugin_name for impl in state.registry.hook.devstack_startup.get_hookimpls()}

    @app.before_serving
    async def start_plugins() -> None:
        with_startup = starters()
        for _owner, call in calls.call("devstack_startup", host=state.host):
            if inspect.isawaitable(call):
                await call  # a failure or overrun fails that plugin (see devstack.plugin_system.hookcalls)
        state.started.extend(name for name in sorted(with_startup) if state.registry.is_loaded(name))
        # Everything built so far (modules, the app, plugin clients) lives as long as the
        # process: move it out of the collector's generations so full collections stay short.
        gc.collect()
        gc.freeze()

    @app.after_serving
    async def stop_plugins() -> None:
        state.shutting_down = True
        with_startup = starters()
        for owner, call in calls.call("devstack_shutdown", host=state.host):
            if owner in with_startup and owner not in state.started:
                if isinstance(call, PluginCall):
                    call.close()  # its startup never ran: nothing to close
                continue
            if inspect.isawaitable(call):
                await call  # a failure or overrun is logged; the other plugins still shut down
        state.started.clear()
