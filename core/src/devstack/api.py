"""The public API for plugins: everything a plugin imports from core is here.

A plugin needs ``devstack.hookimpl`` to mark its hooks, the types below, the exceptions
of ``devstack.errors`` and devstack's masking policy (``sensitive_name``, ``masked``,
``masked_all``, ``mask_text``, ``MASK``: see ``devstack.masking``). It never imports
other core modules.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from quart import g

from devstack.cache import CacheBackend, CacheUnavailable, MemoryCache, OwnedCache, fingerprint
from devstack.errors import (
    ApiError,
    BadRequest,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    ValidationFailed,
    invalid,
)
from devstack.host import Host
from devstack.masking import MASK, mask_text, masked, masked_all, sensitive_name

HealthBody = dict[str, Any]
Probe = Callable[[], Awaitable[HealthBody]]


@dataclass(frozen=True)
class HealthCheck:
    """A named health probe, returned by ``devstack_health_checks``.

    ``probe`` returns the service's health body: a dict whose ``status`` is
    ``"healthy"`` or ``"unhealthy"`` plus the service's own keys. ``timeout`` bounds
    it (seconds); a ``critical`` check failing makes ``/health/ready`` answer 503.
    """

    name: str
    probe: Probe
    timeout: float = 5.0
    critical: bool = True
    description: str = ""


@dataclass(frozen=True)
class TlsMaterial:
    """A certificate for the HTTPS listener, returned by ``devstack_tls_certificate``."""

    certificate_pem: str
    private_key_pem: str
    not_after: datetime
    ca_chain_pem: str = ""
    serial: str = ""


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


def health_body(status: bool, **fields: Any) -> HealthBody:
    """``{"status": "healthy"|"unhealthy", **fields}``."""
    return {"status": "healthy" if status else "unhealthy", **fields}


__all__ = [
    "MASK",
    "ApiError",
    "BadRequest",
    "CacheBackend",
    "CacheUnavailable",
    "HealthBody",
    "HealthCheck",
    "Host",
    "MemoryCache",
    "NotFound",
    "OwnedCache",
    "PayloadTooLarge",
    "Probe",
    "ServiceUnavailable",
    "TlsMaterial",
    "ValidatedRequest",
    "ValidationFailed",
    "fingerprint",
    "health_body",
    "invalid",
    "mask_text",
    "masked",
    "masked_all",
    "sensitive_name",
    "validated",
]
