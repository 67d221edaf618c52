"""The devstack command, run as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml


def devstack(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "devstack.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_plugins_json_lists_records() -> None:
    result = devstack("plugins", "--json")
    assert result.returncode == 0, result.stderr
    plugins = json.loads(result.stdout)["plugins"]
    assert all({"name", "status", "routes", "health_checks"} <= set(p) for p in plugins)


def test_spec_prints_a_valid_openapi_document() -> None:
    from openapi_spec_validator import validate

    result = devstack("spec")
    assert result.returncode == 0, result.stderr
    document = yaml.safe_load(result.stdout)
    validate(document)
    assert "/health/all" in document["paths"]


def test_spec_check_reports_differences(tmp_path: Path) -> None:
    current = devstack("spec", "--json")
    document = json.loads(current.stdout)
    same = tmp_path / "same.yaml"
    same.write_text(yaml.safe_dump(document))
    assert devstack("spec", "--check", str(same)).returncode == 0
    document["paths"].pop("/health/live")
    different = tmp_path / "different.yaml"
    different.write_text(yaml.safe_dump(document))
    result = devstack("spec", "--check", str(different))
    assert result.returncode == 1
    assert "/health/live" in result.stdout
    assert "differs" in result.stderr


def test_missing_spec_file_is_a_user_error_without_traceback() -> None:
    result = devstack("spec", "--check", "/no/such/file.yaml")
    assert result.returncode == 2
    assert result.stderr.strip() == "devstack: no such file: /no/such/file.yaml"


def test_settings_masks_secrets() -> None:
    result = devstack("settings", "--json", env={"DEVSTACK_API_KEYS": "key-one,key-two"})
    assert result.returncode == 0, result.stderr
    rows = {row["env"]: row for row in json.loads(result.stdout)}
    assert rows["DEVSTACK_API_KEYS"]["value"] == "***"
    assert rows["DEVSTACK_PORT"]["value"] == 8001
    assert "key-one" not in result.stdout


def test_invalid_setting_is_a_user_error() -> None:
    result = devstack("settings", env={"DEVSTACK_PORT": "eighty"})
    assert result.returncode == 2
    assert "DEVSTACK_PORT" in result.stderr
    assert "Traceback" not in result.stderr


def test_health_exit_code() -> None:
    result = devstack("health")
    assert result.returncode in (0, 1)
    body = json.loads(result.stdout)
    assert body["status"] == ("healthy" if result.returncode == 0 else "degraded")
