"""GET /health/vault: Vault's sys/health (standby counts as healthy) and our auth state."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from devstack.api import HealthBody, HealthCheck
from devstack_vault.service import SERVICE, VaultService

log = logging.getLogger("devstack_vault")


def health_check(service: VaultService) -> HealthCheck:
    async def probe() -> HealthBody:
        details: dict[str, Any] = {
            "auth_method": service.auth.method,
            "authenticated": service.auth.authenticated,
            "circuit_breaker": service.host.breaker_state(SERVICE),
        }
        started = time.perf_counter()
        try:
            async with asyncio.timeout(service.settings.timeout):
                status = await asyncio.to_thread(service.read_health)
        except Exception as exc:  # noqa: BLE001 - any failure means Vault cannot be reached
            result = "timeout" if isinstance(exc, TimeoutError) else "backend_error"
            service.metrics.calls.observe("health", result, time.perf_counter() - started)
            log.warning("vault health check failed", extra={"service": SERVICE, "error_type": type(exc).__name__})
            return {
                "status": "unhealthy",
                "details": {"status": "unhealthy", **details, "error": "Vault is unreachable"},
            }
        service.metrics.calls.observe("health", "ok", time.perf_counter() - started)
        initialized = bool(status.get("initialized"))
        sealed = bool(status.get("sealed"))
        verdict = "healthy" if initialized and not sealed else "unhealthy"
        details = {
            "status": verdict,  # repeated inside details, as the reference does
            "initialized": initialized,
            "sealed": sealed,
            "standby": bool(status.get("standby")),
            "version": str(status.get("version", "")),
            **details,
        }
        return {"status": verdict, "details": details}

    return HealthCheck(
        name=SERVICE,
        probe=probe,
        timeout=service.settings.timeout + 1.0,
        critical=True,
        description="Vault sys/health (standby accepted)",
    )
