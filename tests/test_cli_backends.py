"""The ``devstack`` command with all six plugins against the real local backends.

``devstack health`` right after start judged before the pools had opened (mysql
"connection failed", exit 1, while the service was healthy): it now waits until every
background opening has made its first attempt. ``devstack settings`` and ``devstack
plugins`` with the real environment show no credential.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from .support import leaks_in, server_env

HEALTH_RUNS = 4


def devstack(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "devstack.cli", *args],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, **server_env(**(env or {}))},
        check=False,
    )


def test_health_right_after_start_is_healthy_every_time() -> None:
    outcomes = []
    for _ in range(HEALTH_RUNS):
        result = devstack("health")
        body = json.loads(result.stdout)
        unhealthy = {name: found for name, found in body["services"].items() if found["status"] != "healthy"}
        outcomes.append((result.returncode, unhealthy, result.stderr[-300:] if result.returncode else ""))
        assert leaks_in(result.stdout + result.stderr) == []
    assert outcomes == [(0, {}, "")] * HEALTH_RUNS
    assert set(body["services"]) == {"vault", "postgres", "mysql", "mongodb", "redis", "rabbitmq"}


@pytest.mark.parametrize("form", [[], ["--json"]])
def test_settings_with_every_plugin_show_no_credential(form: list[str]) -> None:
    env = {
        "DEVSTACK_RATE_LIMIT_STORAGE": "redis://:rl-storage-pw-8841@127.0.0.1:6379/1",
        "RABBITMQ_MANAGEMENT_URL": "http://devstack:mgmt-url-pw-5521@127.0.0.1:15672",
    }
    result = devstack("settings", *form, env=env)
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert leaks_in(output) == []
    assert "rl-storage-pw-8841" not in output
    assert "mgmt-url-pw-5521" not in output
    assert "redis://:***@127.0.0.1:6379/1" in output
    assert "http://devstack:***@127.0.0.1:15672" in output


def test_plugins_in_strict_mode_exit_zero_when_every_plugin_loads() -> None:
    result = devstack("plugins", "--json")
    assert result.returncode == 0, result.stderr
    statuses = {record["name"]: record["status"] for record in json.loads(result.stdout)["plugins"]}
    assert set(statuses.values()) == {"loaded"}
    broken = devstack("plugins", env={"POSTGRES_PORT": "abc"})
    assert broken.returncode == 1
    assert "POSTGRES_PORT='abc'" in broken.stdout
    assert "Traceback" not in broken.stderr
