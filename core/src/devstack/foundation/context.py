"""Per-request context that outlives the request object (logs, backends)."""

from __future__ import annotations

from contextvars import ContextVar

_request_id: ContextVar[str | None] = ContextVar("devstack_request_id", default=None)


def current_request_id() -> str | None:
    """The X-Request-ID of the request being served, if any."""
    return _request_id.get()


def set_request_id(value: str | None) -> None:
    _request_id.set(value)
