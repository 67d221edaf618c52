"""/health/all with the cache cold under a crowd (all six plugins, the shared cache in the
real Redis Cluster): concurrent misses share one round of probes, so each probe runs once
per cache period, and a probe that hangs bounds every waiter by its timeout.

A test plugin's probe is added beside the six real ones; it counts its runs, and the real
probes' runs are counted by ``health_check_duration_seconds_count``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from devstack import hookimpl
from devstack.api import HealthCheck, Host
from devstack.runtime.app import state_of
from devstack.testing import host_of, running_app

from .conftest import PLUGINS
from .support import delete_cache_keys, services_env, unique

CROWD = 32
SLOW_TIMEOUT = 1.0
MARGIN = 0.75  # scheduling on a loaded 2-core machine, far below a second round's cost


class Probed:
    """One extra health check that sleeps ``delay`` (past ``timeout`` when it should hang)."""

    def __init__(self, delay: float, timeout: float = 5.0) -> None:
        self.delay = delay
        self.timeout = timeout
        self.runs = 0

    @hookimpl
    def devstack_health_checks(self, host: Host) -> list[HealthCheck]:
        async def probe() -> dict[str, Any]:
            self.runs += 1
            await asyncio.sleep(self.delay)
            return {"status": "healthy"}

        return [HealthCheck("probed", probe, timeout=self.timeout, critical=False)]


@pytest.fixture
def shared_prefix() -> Iterator[str]:
    prefix = f"{unique('health-flight-')}:"
    yield prefix
    delete_cache_keys(prefix)


def probe_runs(app: Any) -> dict[str, float]:
    """Each check's ``health_check_duration_seconds_count`` in this app's registry."""
    runs = {}
    for family in state_of(app).metrics.registry.collect():
        for sample in family.samples:
            if sample.name == "health_check_duration_seconds_count":
                runs[sample.labels["check"]] = sample.value
    return runs


def env_for(prefix: str) -> dict[str, str]:
    return {**services_env(), "REDIS_KEY_PREFIX": prefix, "DEVSTACK_HEALTH_CACHE_TTL": "30"}


async def test_cold_health_all_under_a_crowd_runs_each_probe_once(shared_prefix: str) -> None:
    probed = Probed(delay=0.3)
    async with running_app(env=env_for(shared_prefix), plugins={"probed": probed}) as (app, client):
        assert host_of(app).cache.name == "redis"
        answers = await asyncio.gather(*(client.get("/health/all") for _ in range(CROWD)))
        assert [answer.status_code for answer in answers] == [200] * CROWD
        bodies = [await answer.get_json() for answer in answers]
        assert all(body == bodies[0] for body in bodies)
        assert set(bodies[0]["services"]) >= {*PLUGINS, "probed"}
        assert probed.runs == 1
        assert probe_runs(app) == dict.fromkeys(bodies[0]["services"], 1.0)

        again = await asyncio.gather(*(client.get("/health/all") for _ in range(CROWD)))
        assert {answer.headers["X-Cache"] for answer in again} == {"HIT"}
        assert probed.runs == 1  # the same cache period: no second round


async def test_a_hanging_probe_bounds_every_waiter_by_its_timeout(shared_prefix: str) -> None:
    """Requests arrive all through the round; each gets the round's answer within the
    slow probe's timeout of its own arrival, and the slow probe started once."""
    probed = Probed(delay=30.0, timeout=SLOW_TIMEOUT)
    async with running_app(env=env_for(shared_prefix), plugins={"probed": probed}) as (_app, client):

        async def timed(after: float) -> tuple[float, dict[str, Any]]:
            await asyncio.sleep(after)
            started = time.perf_counter()
            response = await client.get("/health/all")
            assert response.status_code == 200
            return time.perf_counter() - started, await response.get_json()

        spread = [SLOW_TIMEOUT * 0.8 * index / CROWD for index in range(CROWD)]
        results = await asyncio.gather(*(timed(after) for after in spread))
        waits = sorted(wait for wait, _ in results)
        assert waits[-1] < SLOW_TIMEOUT + MARGIN, waits
        for _, body in results:
            assert body["status"] == "degraded"
            assert body["services"]["probed"] == {"status": "unhealthy", "error": "probed health check timed out"}
        assert probed.runs == 1
