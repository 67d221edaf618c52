"""The plugin under test in an application of its own, in-process: what core made of it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from devstack.conformance.subject import Subject
from devstack.contract import operations
from devstack.runtime.app import state_of
from devstack.testing import running_app


@dataclass
class Built:
    """What the app built with the plugin holds about it."""

    status: str = "missing"
    error: str | None = None
    contract: dict[str, Any] = field(default_factory=dict)
    gaps: list[str] = field(default_factory=list)
    owned: set[str] = field(default_factory=set)
    """``METHOD /path`` of every route the plugin serves and every operation it documents."""
    build_error: str | None = None
    core_metrics: set[str] = field(default_factory=set)
    """The metric families of core alone (what is not the plugin's)."""


async def build(subject: Subject) -> Built:
    """Build and start the app with only this plugin (not strict), and read its record."""
    built = Built()
    try:
        async with running_app(env=subject.env(), strict=False) as (app, _client):
            state = state_of(app)
            record = state.registry.records.get(subject.name)
            if record is not None:
                built.status, built.error = record.status, record.error
            built.contract = state.contract
            built.gaps = list(state.contract_gaps)
            fragment = subject.fragment() or {}
            built.owned = {f"{method} {path}" for method, path in operations(fragment)}
            built.owned |= {
                f"{method} {path}" for (method, path), owner in state.route_owners.items() if owner == subject.name
            }
    except Exception as exc:  # noqa: BLE001 - reported by the plugin-loads rule
        built.build_error = f"building the app raised {type(exc).__name__}: {str(exc)[:300]}"
    built.core_metrics = await core_metric_families()
    return built


async def core_metric_families() -> set[str]:
    from prometheus_client.parser import text_string_to_metric_families

    async with running_app(plugins={}, discover=False, strict=False) as (_app, client):
        response = await client.get("/metrics")
        text = await response.get_data(as_text=True)
    return {family.name for family in text_string_to_metric_families(text)}


def built_app(subject: Subject) -> Built:
    return asyncio.run(build(subject))
