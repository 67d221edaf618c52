"""``GET /``: the root document.

Core writes its own keys (name, version, links, ``security``, an empty ``examples`` map
and a ``note``); every other section comes from the plugin that owns it, through
``devstack_root_info``: a plugin's mapping is merged into a section core already has
(mappings recursively, lists as sorted unions, a plugin's text in place of core's) or adds
a section of its own (a mapping under a new key, e.g. the redis plugin's
``redis_cluster``). Core names no backend here.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from devstack.runtime.state import DevstackState

log = logging.getLogger("devstack.core_routes")

CORE_NOTE = "Every service's credentials come from the secrets provider when one is installed, else from its settings"
ALLOWED_CONTENT_TYPES = ["application/json", "application/x-www-form-urlencoded", "multipart/form-data", "text/plain"]


def deep_merge(target: dict[str, Any], extra: Mapping[str, Any]) -> None:
    """Merge ``extra`` into ``target``: mappings recursively, lists as sorted unions."""
    for key, value in extra.items():
        current = target.get(key)
        if isinstance(current, dict) and isinstance(value, Mapping):
            deep_merge(current, value)
        elif isinstance(current, list) and isinstance(value, list):
            target[key] = sorted(set(current) | set(value), key=str)
        else:
            target[key] = value


def core_document(state: DevstackState) -> dict[str, Any]:
    """Core's own part of the root document."""
    settings = state.settings
    info = state.contract["info"]
    return {
        "name": info["title"],
        "version": info["version"],
        "description": "Plugin-based API for local infrastructure services",
        "docs": "/docs",
        "health": "/health/all",
        "metrics": "/metrics",
        "security": {
            "cors": state.guards.cors.describe(),
            "rate_limiting": {
                "general_endpoints": settings.rate_limit_general,
                "metrics_endpoint": settings.rate_limit_metrics,
                "health_checks": settings.rate_limit_health,
                "enabled": settings.rate_limit_enabled,
            },
            "request_validation": {
                "max_request_size": f"{settings.max_body_bytes // (1024 * 1024)}MB",
                "allowed_content_types": list(ALLOWED_CONTENT_TYPES),
            },
            "circuit_breakers": {
                "enabled": True,
                "services": [],
                "failure_threshold": settings.breaker_failure_threshold,
                "reset_timeout": f"{settings.breaker_reset_timeout:g}s",
                "states": state.host.breakers.snapshot(),
            },
        },
        "examples": {},
        "note": CORE_NOTE,
    }


def root_document(state: DevstackState) -> dict[str, Any]:
    """Core's part with every plugin's sections merged in.

    Answers are merged last to first, so that for a text (the ``note``) the first answer
    in pluggy's order wins, as for the provider hooks; a ``tryfirst`` plugin comes first.
    """
    document = core_document(state)
    answers = state.registry.calls.call("devstack_root_info", host=state.host)
    for owner, extra in reversed(answers):
        if not extra:
            continue
        for key, value in extra.items():
            current = document.get(key)
            if isinstance(value, Mapping) and (current is None or isinstance(current, dict)):
                section = document.setdefault(key, {})
                deep_merge(section, value)
            elif isinstance(value, str) and isinstance(current, str):
                document[key] = value
            else:
                ignored(owner, key)
    return document


_IGNORED: set[tuple[str | None, str]] = set()


def ignored(owner: str | None, key: str) -> None:
    """A contribution that is neither a section nor a text for core's text: logged once."""
    if (owner, key) not in _IGNORED:
        _IGNORED.add((owner, key))
        log.warning("root info ignored: a section must be a mapping", extra={"plugin": owner, "section": key})
