"""Fixtures: the real broker's settings, a started app, the management API, unique queues.

The broker is shared with other engineers' tests: every queue name is unique and deleted
at the end, every app uses its own connection name, and nothing here stops the broker.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import pytest
from quart import Quart
from quart.testing import QuartClient

from devstack.testing import running_app
from devstack.testkit import require_env, wait_health

# The root pytest config uses --import-mode=importlib, which does not put test directories
# on sys.path; the test modules import their shared helpers (rabbitmq_support) from here.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from rabbitmq_support import REQUIRED, Management, unique


@pytest.fixture
def settings() -> dict[str, str]:
    return require_env(*REQUIRED)


@pytest.fixture
def connection_name() -> str:
    return unique("devstack-test")


@pytest.fixture
def rabbit_env(settings: dict[str, str], connection_name: str) -> dict[str, str | None]:
    """The app's environment: the real broker, this test's own connection name."""
    return {**settings, "RABBITMQ_CONNECTION_NAME": connection_name, "RABBITMQ_RECONNECT_INTERVAL": "1"}


@pytest.fixture
async def app_client(rabbit_env: Mapping[str, str | None]) -> AsyncIterator[tuple[Quart, QuartClient]]:
    async with running_app(env=rabbit_env) as (app, client):
        await wait_health(client, "rabbitmq", timeout=20)
        yield app, client


@pytest.fixture
async def client(app_client: tuple[Quart, QuartClient]) -> QuartClient:
    return app_client[1]


@pytest.fixture
async def management(settings: dict[str, str]) -> AsyncIterator[Management]:
    manager = Management(settings)
    try:
        yield manager
    finally:
        await manager.http.aclose()


@pytest.fixture
async def queue_name(management: Management) -> AsyncIterator[str]:
    """A queue name no one else uses; the queue is deleted afterwards."""
    name = unique("devstack-test-q")
    yield name
    await management.delete_queue(name)
