"""A request's inputs after validation against the contract (re-exported by ``devstack.api``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from quart import g


@dataclass
class ValidatedRequest:
    """A request's inputs after validation against the contract.

    ``path`` and ``query`` hold values converted to their schema types (integers,
    numbers, booleans) with schema defaults applied; ``body`` is the parsed JSON body
    (None without one).
    """

    path: dict[str, Any] = field(default_factory=dict)
    query: dict[str, Any] = field(default_factory=dict)
    body: Any = None


def validated() -> ValidatedRequest:
    """The current request's validated inputs (inside a request handler)."""
    value = getattr(g, "devstack_validated", None)
    return value if isinstance(value, ValidatedRequest) else ValidatedRequest()
