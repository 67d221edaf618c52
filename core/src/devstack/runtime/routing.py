"""Routes and the contract: merge the contract, register every route, freeze the table.

Who serves what is recorded here (``state.route_owners``): core's own routes, each
plugin's blueprints (a route served twice stops the startup naming both plugins) and one
``GET /health/{name}`` per declared check. ``freeze`` compiles the contract's validators,
reports routes without operations and operations without routes, and returns the
read-only table the request pipeline is built on.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from quart import Blueprint, Quart

from devstack.contract import ContractBuilder, ContractError, core_fragment, operations, quart_rule_to_openapi
from devstack.contract.validation import compile_contract
from devstack.http.route_table import RouteTable
from devstack.kit.cache import CORE_OWNER
from devstack.plugin_system.records import PluginError
from devstack.runtime.contributions import Contributions
from devstack.runtime.routes import health_one
from devstack.runtime.state import DevstackState

log = logging.getLogger("devstack.app")


def merge_contract(state: DevstackState, found: Contributions) -> dict[str, Any]:
    """Core's fragment with every surviving plugin's, and a generic operation for each
    health check whose plugin documents none; paths sorted."""
    builder = ContractBuilder(core_fragment())
    for name, fragment in sorted(found.fragments.items()):
        if not state.registry.is_loaded(name):
            continue
        try:
            builder.add(name, fragment)
        except ContractError as exc:
            raise PluginError(str(exc)) from None
    contract = builder.build()
    for _owner, check in found.checks:
        contract["paths"].setdefault(f"/health/{check.name}", {"get": generic_health_operation(check.name)})
    contract["paths"] = dict(sorted(contract["paths"].items()))
    return contract


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


def register_core_route(state: DevstackState, rule: str, methods: Iterable[str]) -> None:
    path = quart_rule_to_openapi(rule)
    state.rule_paths[rule] = path
    for method in methods:
        state.route_owners[(method, path)] = CORE_OWNER


def register_plugin_routes(app: Quart, state: DevstackState, found: Contributions) -> None:
    """Every surviving plugin's blueprints, then its health checks and their routes."""
    for owner, blueprint in found.blueprints:
        register_blueprint(app, state, owner, blueprint)
    for owner, check in found.checks:
        try:
            state.health.add(owner, check)
        except ValueError as exc:
            raise PluginError(str(exc)) from None
        state.registry.records[owner].health_checks.append(check.name)
    register_health_routes(app, state)


def register_blueprint(app: Quart, state: DevstackState, owner: str, blueprint: Blueprint) -> None:
    """Register one plugin blueprint, refusing any route that is already served."""
    record = state.registry.records[owner]
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
            taken = state.route_owners.get(key)
            if taken is not None:
                raise PluginError(f"route {method} {path} is registered by both {taken} and {record.name}")
            state.route_owners[key] = record.name
            record.routes.append(f"{method} {path}")


def register_health_routes(app: Quart, state: DevstackState) -> None:
    """``GET /health/{name}`` for every declared check (a concrete route each)."""
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


def freeze(state: DevstackState) -> RouteTable:
    """Compile the validators, report the contract's gaps, and freeze the route table."""
    state.validators = compile_contract(state.contract)
    documented = set(operations(state.contract))
    served = set(state.route_owners)
    state.contract_gaps = [f"route {m} {p} has no operation in the contract" for m, p in sorted(served - documented)]
    state.contract_gaps += [f"operation {m} {p} has no route" for m, p in sorted(documented - served)]
    for gap in state.contract_gaps:
        log.warning("contract gap", extra={"gap": gap})
    if state.contract_gaps and state.settings.strict_plugins:
        raise PluginError("; ".join(state.contract_gaps))
    state.routes = RouteTable(state.rule_paths, state.route_owners, state.validators, state.metrics)
    return state.routes
