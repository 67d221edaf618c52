"""Fixtures: the shared OpenBao of scripts/services.sh and private dev servers."""

from __future__ import annotations

import sys
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import hvac
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from vault_support import SEEDED, PrivateBao, vault_env

from devstack.testkit import require_env


@pytest.fixture(scope="session")
def shared() -> dict[str, str]:
    """The shared server's settings from .run/devstack.env; a missing server is a failure."""
    settings = require_env("VAULT_ADDR", "VAULT_TOKEN", "VAULT_APPROLE_DIR")
    addr = settings["VAULT_ADDR"]
    try:
        with urllib.request.urlopen(f"{addr}/v1/sys/health", timeout=5) as answer:
            assert answer.status == 200
    except OSError:
        pytest.fail(f"Vault at {addr} does not answer: run scripts/services.sh up")
    return settings


@pytest.fixture
def shared_env(shared: dict[str, str]) -> dict[str, str | None]:
    """The app's environment for the shared server: AppRole from the files, token as fallback."""
    return vault_env(shared["VAULT_ADDR"], token=shared["VAULT_TOKEN"], approle_dir=shared["VAULT_APPROLE_DIR"])


@pytest.fixture
def root(shared: dict[str, str]) -> hvac.Client:
    return hvac.Client(url=shared["VAULT_ADDR"], token=shared["VAULT_TOKEN"], timeout=5)


@pytest.fixture
def scratch(root: hvac.Client) -> Iterator[str]:
    """A unique secret name on the shared server, deleted (all versions) afterwards."""
    name = f"devstack-test-{uuid.uuid4().hex[:12]}"
    yield name
    try:
        root.secrets.kv.v2.delete_metadata_and_all_versions(path=name, mount_point="secret")
    except hvac.exceptions.VaultError:
        pass


@pytest.fixture
def bao(tmp_path: Path) -> Iterator[PrivateBao]:
    """A private dev server with KV (SEEDED), transit and AppRole; stopped afterwards."""
    server = PrivateBao(tmp_path).start()
    try:
        server.seed_kv(SEEDED)
        server.seed_transit()
        yield server
    finally:
        server.stop()
