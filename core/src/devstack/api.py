"""The public API for plugins: everything a plugin imports from core is here.

A plugin imports ``devstack.hookimpl`` (to mark its hooks) and this module, nothing else
of core; a lint contract (``lint-imports``, see the workspace pyproject) fails CI when a
plugin imports any other core module. Here:

- the hook types: ``Host`` (passed to every hook), ``HealthCheck``, ``TlsMaterial``,
  ``CacheBackend``;
- the error answers (``ApiError`` and its subclasses, ``invalid``): raise them from a
  route and core renders the JSON envelope;
- the request's validated inputs (``validated()``) and the health body (``health_body``);
- the backend kit: ``BackgroundOpener`` (open a client in the background with backoff),
  ``OperationMetrics`` (the one metrics scheme: ``<plugin>_operations_total{operation,result}``,
  ``<plugin>_operation_duration_seconds``, ``<plugin>_pool_size``), the shared cache types;
- devstack's masking policy (``sensitive_name``, ``masked``, ``masked_all``, ``mask_text``,
  ``MASK``).

Plugin state (pools, clients) is kept with ``host.state(Type, create)``; a breaker's state
with ``host.breaker_state(service)``; the default backend timeout is ``host.backend_timeout``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from quart import g

from devstack.foundation.errors import (
    ApiError,
    BadRequest,
    InternalServerError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
    UnsupportedMediaType,
    ValidationFailed,
    invalid,
)
from devstack.foundation.masking import MASK, mask_text, masked, masked_all, sensitive_name
from devstack.kit.cache import CacheBackend, CacheUnavailable, MemoryCache, OwnedCache, fingerprint
from devstack.kit.opener import BackgroundOpener
from devstack.kit.operation_metrics import OperationMetrics
from devstack.kit.pool_metrics import PoolCallMetrics
from devstack.plugin_system.host import Host

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
    "BackgroundOpener",
    "BadRequest",
    "CacheBackend",
    "CacheUnavailable",
    "HealthBody",
    "HealthCheck",
    "Host",
    "InternalServerError",
    "MemoryCache",
    "MethodNotAllowed",
    "NotFound",
    "OperationMetrics",
    "OwnedCache",
    "PayloadTooLarge",
    "PoolCallMetrics",
    "Probe",
    "ServiceUnavailable",
    "TlsMaterial",
    "TooManyRequests",
    "Unauthorized",
    "UnsupportedMediaType",
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
