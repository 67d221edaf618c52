"""``GET /``: the root document."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from devstack.runtime.state import DevstackState

ROOT_SECTIONS = ("security", "redis_cluster", "examples")


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


def root_document(state: DevstackState) -> dict[str, Any]:
    settings = state.settings
    info = state.contract["info"]
    document: dict[str, Any] = {
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
                "allowed_content_types": [
                    "application/json",
                    "application/x-www-form-urlencoded",
                    "multipart/form-data",
                    "text/plain",
                ],
            },
            "circuit_breakers": {
                "enabled": True,
                "services": [],
                "failure_threshold": settings.breaker_failure_threshold,
                "reset_timeout": f"{settings.breaker_reset_timeout:g}s",
                "states": state.host.breakers.snapshot(),
            },
        },
        "redis_cluster": {},
        "examples": {},
        "note": "Every service's credentials come from the secrets provider (Vault when installed)",
    }
    for _owner, extra in state.registry.calls.call("devstack_root_info", host=state.host):
        if not extra:
            continue
        for key, value in extra.items():
            if key in ROOT_SECTIONS and isinstance(value, Mapping):
                deep_merge(document[key], value)
    return document
