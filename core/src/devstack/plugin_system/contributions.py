"""The values plugins hand to core through hooks (re-exported by ``devstack.api``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

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


def health_body(status: bool, **fields: Any) -> HealthBody:
    """``{"status": "healthy"|"unhealthy", **fields}``."""
    return {"status": "healthy" if status else "unhealthy", **fields}
