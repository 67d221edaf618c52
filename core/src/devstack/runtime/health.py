"""Running health checks: each under its own timeout, all of them concurrently."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from devstack.foundation.single_flight import SingleFlight
from devstack.kit.breakers import Breakers
from devstack.observability.metrics import CoreMetrics
from devstack.plugin_system.contributions import HealthBody, HealthCheck

log = logging.getLogger("devstack.health")


class HealthChecks:
    """The named checks every plugin declared, and how to run them."""

    def __init__(self, metrics: CoreMetrics, breakers: Breakers) -> None:
        self.checks: dict[str, HealthCheck] = {}
        self.owners: dict[str, str] = {}
        self._metrics = metrics
        self._breakers = breakers
        self._rounds: SingleFlight[dict[str, Any]] = SingleFlight()

    def add(self, owner: str, check: HealthCheck) -> None:
        if check.name in self.checks:
            raise ValueError(f"health check {check.name!r} is declared by both {self.owners[check.name]} and {owner}")
        self.checks[check.name] = check
        self.owners[check.name] = owner

    async def run(self, name: str) -> HealthBody:
        """One check's body; a timeout or an exception becomes a fixed 'unhealthy' body."""
        check = self.checks[name]
        started = time.perf_counter()
        try:
            async with asyncio.timeout(check.timeout):
                body = dict(await check.probe())
            if body.get("status") not in ("healthy", "unhealthy"):
                body = {"status": "unhealthy", "error": f"{name} health check returned an invalid answer"}
            elif isinstance(body.get("details"), dict):
                # the breaker state goes only where the body already nests details (vault):
                # reference bodies have fixed key sets; elsewhere see GET / and /metrics
                body["details"] = {**body["details"], "circuit_breaker": self._breakers.state(name)}
        except TimeoutError:
            body = {"status": "unhealthy", "error": f"{name} health check timed out"}
        except Exception as exc:  # noqa: BLE001 - a probe's failure is reported, not raised
            log.warning("health probe raised", extra={"check": name, "error_type": type(exc).__name__})
            body = {"status": "unhealthy", "error": f"{name} health check failed"}
        self._metrics.health_duration.labels(check=name).observe(time.perf_counter() - started)
        self._metrics.health_status.labels(check=name).set(1 if body["status"] == "healthy" else 0)
        return body

    async def run_all(self) -> dict[str, Any]:
        """``{"status": "healthy"|"degraded", "services": {name: body}}``."""
        names = sorted(self.checks)
        bodies = await asyncio.gather(*(self.run(name) for name in names))
        services = dict(zip(names, bodies, strict=True))
        healthy = all(body["status"] == "healthy" for body in bodies)
        return {"status": "healthy" if healthy else "degraded", "services": services}

    async def run_all_shared(self) -> dict[str, Any]:
        """``run_all``, joined by every caller that comes while it runs (/health/ready and
        cache misses of /health/all: a crowd of callers costs one round, not one each)."""
        return await self._rounds.run("all", self.run_all)

    def critical_failures(self, result: dict[str, Any]) -> list[str]:
        return sorted(
            name
            for name, body in result["services"].items()
            if self.checks[name].critical and body["status"] != "healthy"
        )
