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
import pickle
from collections.abc import Callable, Mapping
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


def root_answers(state: DevstackState) -> list[tuple[str | None, Any]]:
    """Every plugin's ``devstack_root_info`` answer, with the plugin that gave it."""
    return state.registry.calls.call("devstack_root_info", host=state.host)


def root_document(state: DevstackState, answers: list[tuple[str | None, Any]] | None = None) -> dict[str, Any]:
    """Core's part with every plugin's sections merged in (``answers``: asked now by default).

    Answers are merged last to first, so that for a text (the ``note``) the first answer
    in pluggy's order wins, as for the provider hooks; a ``tryfirst`` plugin comes first.
    """
    document = core_document(state)
    if answers is None:
        answers = root_answers(state)
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


def snapshot(answers: list[tuple[str | None, Any]]) -> bytes | None:
    """What the answers are, to compare with the next request's: their pickle, a copy
    that a plugin changing its mapping in place cannot change (the answer may be the same
    object each time), made about five times faster than their JSON. None for an answer
    that cannot be pickled: such answers are never reused."""
    try:
        return pickle.dumps(answers, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # noqa: BLE001 - any object a plugin answers: merged afresh instead
        return None


class RootDocument:
    """``GET /``'s body, merged and encoded again only when what it is made of changed.

    The plugins are asked on every request, as ``devstack_root_info`` promises; the
    document is a function of their answers and of the breakers' states (the rest comes
    from the settings and the contract, fixed for the application's life), so an answer
    that is the same as last time gets last time's text.
    """

    def __init__(self, state: DevstackState, encode: Callable[[Any], str]) -> None:
        self.state = state
        self._encode = encode
        self._made_of: tuple[bytes, dict[str, str]] | None = None
        self._text = ""

    def text(self) -> str:
        answers = root_answers(self.state)
        answered = snapshot(answers)
        made_of = None if answered is None else (answered, self.state.host.breakers.snapshot())
        if made_of is None or made_of != self._made_of:
            self._text = self._encode(root_document(self.state, answers))
            self._made_of = made_of
        return self._text


_IGNORED: set[tuple[str | None, str]] = set()


def ignored(owner: str | None, key: str) -> None:
    """A contribution that is neither a section nor a text for core's text: logged once."""
    if (owner, key) not in _IGNORED:
        _IGNORED.add((owner, key))
        log.warning("root info ignored: a section must be a mapping", extra={"plugin": owner, "section": key})
