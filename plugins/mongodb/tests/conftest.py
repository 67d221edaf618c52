"""Fixtures: the shared SecantusDB and OpenBao of scripts/services.sh, and private servers.

A missing service is a failure, never a skip.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

# pytest runs with --import-mode=importlib: make this directory's helper module importable
sys.path.insert(0, str(Path(__file__).resolve().parent))

from mongodb_support import REQUIRED_ENV, PrivateSecantus

from devstack.testkit import require_env


@pytest.fixture(scope="session")
def shared_mongo() -> Iterator[MongoClient[dict[str, Any]]]:
    """A direct client to the shared server, for the tests' own checks and clean-up."""
    env = require_env(*REQUIRED_ENV)
    client: MongoClient[dict[str, Any]] = MongoClient(
        env["MONGODB_HOST"],
        int(env["MONGODB_PORT"]),
        username=env["MONGODB_USER"],
        password=env["MONGODB_PASSWORD"],
        authSource=env["MONGODB_DATABASE"],
        serverSelectionTimeoutMS=5000,
    )
    client.admin.command("ping")
    yield client
    client.close()


@pytest.fixture
def collection_name() -> str:
    return f"test_records_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def settings_env(collection_name: str) -> dict[str, str | None]:
    """Plugin settings for the shared server, with a records collection of this test's own."""
    env: dict[str, str | None] = {**require_env(*REQUIRED_ENV), "MONGODB_COLLECTION": collection_name}
    env["MONGODB_AUTH_SOURCE"] = None
    return env


@pytest.fixture
def mongo_env(
    settings_env: dict[str, str | None], shared_mongo: MongoClient[dict[str, Any]], collection_name: str
) -> Iterator[dict[str, str | None]]:
    """``settings_env`` for tests that use the shared server; drops their collection afterwards."""
    yield settings_env
    shared_mongo[os.environ["MONGODB_DATABASE"]].drop_collection(collection_name)


@pytest.fixture
def vault_env() -> dict[str, str]:
    return require_env("VAULT_ADDR", "VAULT_TOKEN")


@pytest.fixture
def private_secantus(tmp_path: Path) -> Iterator[PrivateSecantus]:
    server = PrivateSecantus(tmp_path).start()
    try:
        yield server
    finally:
        server.kill()
