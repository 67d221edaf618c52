"""The build-time hooks: what every plugin contributes before the application is built.

Each hook is called once through pluggy (``devstack.plugin_system.hookcalls``); a plugin
whose answer cannot be used is marked failed and its other contributions are dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from pydantic import ValidationError
from quart import Blueprint

from devstack.contract import check_refs, check_shape, core_fragment, load_fragment, source_name
from devstack.foundation.settings_errors import invalid_settings
from devstack.plugin_system.contributions import HealthCheck
from devstack.plugin_system.failures import field_location
from devstack.plugin_system.records import PluginRecord
from devstack.runtime.state import DevstackState

log = logging.getLogger("devstack.app")


@dataclass
class Contributions:
    """The answers of the build-time hooks, by plugin name."""

    fragments: dict[str, dict[str, Any]] = field(default_factory=dict)
    blueprints: list[tuple[str, Blueprint]] = field(default_factory=list)
    checks: list[tuple[str, HealthCheck]] = field(default_factory=list)


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (Blueprint, HealthCheck)):
        return [value]
    if isinstance(value, Iterable) and not isinstance(value, (str, bytes, dict)):
        return list(value)
    return [value]


def collect(state: DevstackState) -> Contributions:
    """Call every build-time hook, in the order the hook docs give."""
    collect_settings(state)
    for _owner, names in state.registry.calls.call("devstack_secret_services", host=state.host):
        state.host.declare_secrets(as_list(names))
    found = Contributions(fragments=collect_fragments(state))
    blueprints = state.registry.calls.call("devstack_routes", host=state.host)
    checks = state.registry.calls.call("devstack_health_checks", host=state.host)
    state.registry.calls.call("devstack_metrics", registry=state.metrics.registry, host=state.host)
    for owner, cache in state.registry.calls.call("devstack_cache_backend", host=state.host):  # firstresult
        state.host.cache = cache
        log.info("shared cache provided", extra={"plugin": owner, "cache": getattr(cache, "name", "?")})
    # only plugins that survived every build-time hook contribute routes and checks
    found.blueprints = [(name, item) for name, item in survivors(state, blueprints)]
    found.checks = [(name, item) for name, item in survivors(state, checks)]
    return found


def survivors(state: DevstackState, answers: list[tuple[str | None, Any]]) -> list[tuple[str, Any]]:
    """Every item answered by a plugin that is still loaded, with its plugin's name."""
    items: list[tuple[str, Any]] = []
    for owner, result in answers:
        if owner is not None and state.registry.is_loaded(owner):
            items.extend((owner, item) for item in as_list(result))
    return items


def collect_settings(state: DevstackState) -> None:
    """Instantiate each plugin's settings model; invalid settings fail that plugin."""
    for owner, model in state.registry.calls.call("devstack_settings"):
        record = state.registry.records.get(owner or "")
        if record is None:
            continue
        try:
            state.host.settings(model)
        except ValidationError as exc:  # invalid environment for that plugin
            where = partial(field_location, model, package=record.package)
            state.registry.fail(record, "settings", exc, "; ".join(invalid_settings(model, exc, where)))
            continue
        except Exception as exc:  # noqa: BLE001 - a settings model that cannot be built
            state.registry.fail(record, "settings", exc)
            continue
        state.settings_models[record.name] = model


def collect_fragments(state: DevstackState) -> dict[str, dict[str, Any]]:
    """Each plugin's contract fragment, parsed and with its references checked."""
    core = core_fragment()
    fragments: dict[str, dict[str, Any]] = {}
    for owner, source in state.registry.calls.call("devstack_contract"):
        record: PluginRecord | None = state.registry.records.get(owner or "")
        if record is None:
            continue
        try:
            fragment = load_fragment(source)
            name = source_name(source) if not isinstance(source, Mapping) else record.name
            check_shape(name, fragment, source)
            check_refs(name, fragment, core, source)
        except Exception as exc:  # noqa: BLE001
            state.registry.fail(record, "contract", exc)
            continue
        fragments[record.name] = fragment
    return fragments
