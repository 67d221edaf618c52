"""Shared test setup for core: makes the helper modules of this folder importable
(``--import-mode=importlib`` does not put test folders on sys.path); the server fixture."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = str(Path(__file__).parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from production_support import SERVERS  # noqa: E402 - importable only from here on


@pytest.fixture(scope="module", params=SERVERS)
def server_name(request: pytest.FixtureRequest) -> str:
    """The HTTP server of ``devstack serve`` a test runs on: each serve test runs on both."""
    name: str = request.param
    return name
