"""GET /health/all under a crowd: with the cache cold, every probe runs once per cache
period however many requests arrive (no stampede), and a probe that never answers holds
no request past its own timeout. Probes are counted, never timed."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from devstack import hookimpl
from devstack.api import HealthCheck, Host, health_body
from devstack.testing import running_app

CROWD = 32


class GatedProbes:
    """Two probes that count their calls and answer when the test opens the gate; a third
    that never answers (``hang``), under a short timeout."""

    def __init__(self, hang: bool = False) -> None:
        self.calls: dict[str, int] = {"alpha": 0, "beta": 0, "stuck": 0}
        self.gate = asyncio.Event()
        self.round_started = asyncio.Event()  # both gated probes were called
        self.hang = hang

    def probe(self, name: str) -> Any:
        async def run() -> dict[str, Any]:
            self.calls[name] += 1
            if self.calls["alpha"] and self.calls["beta"]:
                self.round_started.set()
            await self.gate.wait()
            return health_body(True)

        return run

    async def never(self) -> dict[str, Any]:
        self.calls["stuck"] += 1
        await asyncio.Event().wait()  # never set: only the check's timeout ends it
        return health_body(True)

    @hookimpl
    def devstack_health_checks(self, host: Host) -> list[HealthCheck]:
        checks = [
            HealthCheck(name="alpha", probe=self.probe("alpha"), critical=False),
            HealthCheck(name="beta", probe=self.probe("beta"), critical=False),
        ]
        if self.hang:
            checks.append(HealthCheck(name="stuck", probe=self.never, critical=False, timeout=0.2))
        return checks


@pytest.mark.parametrize("ttl", [30.0, 0.0])
async def test_a_cold_crowd_runs_each_probe_once(ttl: float) -> None:
    probes = GatedProbes()
    async with running_app(discover=False, plugins={"gated": probes}, health_cache_ttl=ttl) as (_app, client):
        crowd = [asyncio.ensure_future(client.get("/health/all")) for _ in range(CROWD)]
        await probes.round_started.wait()
        for _ in range(50):  # every request reaches the health route before the probes answer
            await asyncio.sleep(0)
        probes.gate.set()
        answers = await asyncio.gather(*crowd)
        bodies = [await answer.get_json() for answer in answers]
        assert [answer.status_code for answer in answers] == [200] * CROWD
        assert all(body == bodies[0] for body in bodies)
        assert bodies[0]["services"]["alpha"]["status"] == "healthy"
        assert probes.calls == {"alpha": 1, "beta": 1, "stuck": 0}
        again = [await client.get("/health/all") for _ in range(3)]
        if ttl:  # within the cache period: answered from the cache, no probe runs
            assert probes.calls == {"alpha": 1, "beta": 1, "stuck": 0}
            assert {answer.headers["X-Cache"] for answer in again} == {"HIT"}
        else:  # cache off: one round per request that finds none in flight
            assert probes.calls == {"alpha": 4, "beta": 4, "stuck": 0}


async def test_a_probe_that_never_answers_holds_the_crowd_only_until_its_timeout() -> None:
    probes = GatedProbes(hang=True)
    probes.gate.set()
    async with running_app(discover=False, plugins={"gated": probes}, health_cache_ttl=30.0) as (_app, client):
        answers = await asyncio.gather(*(client.get("/health/all") for _ in range(CROWD)))
        bodies = [await answer.get_json() for answer in answers]
    assert [answer.status_code for answer in answers] == [200] * CROWD
    for body in bodies:
        assert body["status"] == "degraded"
        assert body["services"]["stuck"] == {"status": "unhealthy", "error": "stuck health check timed out"}
        assert body["services"]["alpha"]["status"] == "healthy"
    assert probes.calls == {"alpha": 1, "beta": 1, "stuck": 1}
