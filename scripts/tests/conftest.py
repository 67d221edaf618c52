"""The fixture of the tool's tests: a private state directory and free ports, cleaned up
(``down``, then anything its own pid files name) whatever the test did."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .services_support import Tool, kill_leftovers, private_env


@pytest.fixture
def tool(tmp_path: Path) -> Iterator[Tool]:
    run_dir = tmp_path / "run"
    env, ports, cluster = private_env(run_dir)
    instance = Tool(run_dir, env, ports, cluster)
    yield instance
    instance("down", timeout=120)
    kill_leftovers(run_dir)
