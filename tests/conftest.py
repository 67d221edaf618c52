"""Shared fixtures of the cross-plugin suite (tox env ``contract``: every plugin installed)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SPEC_FILE = REPO / "spec" / "openapi.yaml"
PLUGINS = ("vault", "postgres", "mysql", "mongodb", "redis", "rabbitmq")


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO
