"""The devstack command, run as a user runs it (a real process each time).

The tests with plugin behaviour use the CLI test kit (fixtures/clipath), a plugin that
only processes with that folder on PYTHONPATH see.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

CLIKIT_PATH = Path(__file__).parent / "fixtures" / "clipath"


def devstack(
    *args: str, env: dict[str, str] | None = None, kit: bool = False, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    extra = dict(env or {})
    if kit:
        extra["PYTHONPATH"] = os.pathsep.join(p for p in (str(CLIKIT_PATH), os.environ.get("PYTHONPATH")) if p)
        extra.setdefault("DEVSTACK_PLUGINS", "clikit")
    return subprocess.run(
        [sys.executable, "-m", "devstack.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **extra},
        check=False,
    )


def one_line_error(result: subprocess.CompletedProcess[str], *expected: str) -> str:
    """The error a person reads: non-zero exit, no traceback, naming what failed and on what."""
    assert result.returncode != 0, (result.stdout or "")[-500:]
    assert "Traceback" not in result.stderr
    assert "unexpected error" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("devstack")]
    assert errors, result.stderr[-1000:]
    for text in expected:
        assert text in errors[-1], f"{text!r} not in {errors[-1]!r}"
    return errors[-1]


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


# errors a person reads: what failed and on what ------------------------------------------
def free_port() -> int:
    from devstack.testing import free_port as pick

    return pick()


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port something else listens on."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield taken.getsockname()[1]


def test_serve_on_a_port_in_use_names_the_port(taken_port: int, server_name: str) -> None:
    result = devstack("serve", "--server", server_name, "--port", str(taken_port))
    one_line_error(result, f"127.0.0.1:{taken_port}", "already in use", "DEVSTACK_PORT")
    assert result.returncode == 2


def test_serve_on_an_https_port_in_use_names_that_port(taken_port: int, server_name: str) -> None:
    ports = ["--port", str(free_port()), "--https-port", str(taken_port)]
    result = devstack("serve", "--server", server_name, "--tls", *ports)
    one_line_error(result, f"127.0.0.1:{taken_port}", "already in use", "DEVSTACK_HTTPS_PORT")


def test_serve_with_tls_and_no_certificate_names_the_settings(server_name: str) -> None:
    ports = ["--port", str(free_port()), "--https-port", str(free_port())]
    result = devstack("serve", "--server", server_name, "--tls", *ports)
    one_line_error(result, "no certificate", "DEVSTACK_TLS_CERT_FILE", "--certfile")
    assert result.returncode == 2


def test_serve_with_a_missing_certificate_file_names_the_file(tmp_path: Path, server_name: str) -> None:
    cert, key = tmp_path / "absent.crt", tmp_path / "absent.key"
    ports = ["--port", str(free_port()), "--https-port", str(free_port())]
    result = devstack("serve", "--server", server_name, "--tls", *ports, "--certfile", str(cert), "--keyfile", str(key))
    one_line_error(result, str(cert), "DEVSTACK_TLS_CERT_FILE", "No such file")


def test_serve_on_an_unresolvable_host_names_the_host() -> None:
    result = devstack("serve", "--host", "no-such-host.invalid", "--port", str(free_port()))
    one_line_error(result, "no-such-host.invalid", "does not resolve", "DEVSTACK_HOST")
    assert result.returncode == 2


def test_serve_on_granian_without_the_extra_names_the_extra(tmp_path: Path) -> None:
    (tmp_path / "granian.py").write_text("raise ImportError('not installed here')\n")  # as if absent
    env = {"PYTHONPATH": os.pathsep.join(p for p in (str(tmp_path), os.environ.get("PYTHONPATH")) if p)}
    result = devstack("serve", "--server", "granian", "--port", str(free_port()), env=env)
    one_line_error(result, "Granian", "DEVSTACK_SERVER", "devstack-core[granian]")
    assert result.returncode == 2


def test_spec_to_a_file_that_cannot_be_written_names_the_file(tmp_path: Path) -> None:
    for target in (tmp_path / "no-such-directory" / "openapi.yaml", tmp_path):
        result = devstack("spec", "-o", str(target))
        one_line_error(result, str(target), "cannot write")
        assert result.returncode == 2


@pytest.mark.parametrize("command", [["serve", "--port", "0"], ["settings"], ["spec"]])
def test_invalid_rate_limit_names_the_setting_and_its_value(command: list[str]) -> None:
    result = devstack(*command, env={"DEVSTACK_RATE_LIMIT_HEALTH": "lots"})
    one_line_error(result, "DEVSTACK_RATE_LIMIT_HEALTH='lots'", "rate limit")
    assert result.returncode == 2


@pytest.mark.parametrize("command", [["spec"], ["settings", "--json"], ["plugins"]])
def test_output_to_a_closed_pipe_is_said_in_one_line(command: list[str]) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first byte, as with `| head -c0`
    try:
        completed = subprocess.run(
            [sys.executable, "-m", "devstack.cli", *command],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)
    one_line_error(completed, "stdout was closed")
    assert completed.returncode == 1
    assert "Exception ignored" not in completed.stderr


# settings: invalid values named, credentials masked ---------------------------------------
def test_invalid_plugin_setting_is_named_with_its_value() -> None:
    result = devstack("settings", env={"CLIKIT_PORT": "abc"}, kit=True)
    one_line_error(result, "plugin clikit", "CLIKIT_PORT='abc'", "valid integer")
    assert result.returncode == 2
    assert "DEVSTACK_PORT" in result.stdout  # the valid settings are still listed


def test_invalid_secret_setting_is_named_with_its_value_masked() -> None:
    value = "bad key!zq-8812"
    result = devstack("settings", "--json", env={"CLIKIT_API_KEY": value}, kit=True)
    one_line_error(result, "CLIKIT_API_KEY='***'", "should match pattern")
    assert "zq-8812" not in result.stdout + result.stderr


CREDENTIALS = {
    "CLIKIT_TOKEN": "tok-cli-1234",
    "CLIKIT_SECRET_ID": "sid-cli-5678",
    "CLIKIT_PASSWORD": "pw-cli-9012",
    "CLIKIT_URL": "amqp://user:url-cli-3456@mq:5672/vh",
    "DEVSTACK_RATE_LIMIT_STORAGE": "redis://:rl-cli-7890@127.0.0.1:6379/1",
    "DEVSTACK_API_KEYS": "apikey-cli-1111,apikey-cli-2222",
}
HIDDEN = ["tok-cli", "sid-cli", "pw-cli", "url-cli", "rl-cli", "apikey-cli", "default-url-pw", "default-secret-pw"]


@pytest.mark.parametrize("form", [[], ["--json"], ["--markdown"]])
def test_settings_show_no_credential_in_any_form(form: list[str]) -> None:
    result = devstack("settings", *form, env=CREDENTIALS, kit=True)
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert [value for value in HIDDEN if value in output] == []
    assert "CLIKIT_URL" in result.stdout


def test_settings_mask_by_policy_and_keep_the_rest() -> None:
    result = devstack("settings", "--json", env=CREDENTIALS, kit=True)
    rows = {row["env"]: row for row in json.loads(result.stdout)}
    assert rows["CLIKIT_URL"]["value"] == "amqp://user:***@mq:5672/vh"
    assert rows["CLIKIT_URL"]["default"] == "http://clikit:***@127.0.0.1:1/x"
    assert rows["DEVSTACK_RATE_LIMIT_STORAGE"]["value"] == "redis://:***@127.0.0.1:6379/1"
    for name in ("CLIKIT_TOKEN", "CLIKIT_SECRET_ID", "CLIKIT_PASSWORD", "DEVSTACK_API_KEYS"):
        assert rows[name]["value"] == "***", name
    assert rows["CLIKIT_API_KEY"]["value"] == ""  # not set: nothing to hide
    assert rows["CLIKIT_PORT"]["value"] == 1
    assert rows["DEVSTACK_RATE_LIMIT_GENERAL"]["value"] == "100/minute"


# plugins: strict mode ---------------------------------------------------------------------
def test_plugins_exits_non_zero_when_a_plugin_failed_in_strict_mode() -> None:
    broken = {"CLIKIT_PORT": "abc"}
    strict = devstack("plugins", env={**broken, "DEVSTACK_STRICT_PLUGINS": "true"}, kit=True)
    one_line_error(strict, "strict", "clikit")
    assert strict.returncode == 1
    assert "CLIKIT_PORT='abc'" in strict.stdout  # the ERROR column says why
    lenient = devstack("plugins", "--json", env={**broken, "DEVSTACK_STRICT_PLUGINS": "false"}, kit=True)
    assert lenient.returncode == 0, lenient.stderr
    (record,) = json.loads(lenient.stdout)["plugins"]
    assert (record["name"], record["status"]) == ("clikit", "failed")
    healthy = devstack("plugins", env={"DEVSTACK_STRICT_PLUGINS": "true"}, kit=True)
    assert healthy.returncode == 0, healthy.stderr


# health: judged after startup -------------------------------------------------------------
def test_health_waits_for_the_background_opening() -> None:
    result = devstack("health", env={"CLIKIT_OPEN_SECONDS": "2"}, kit=True)
    assert result.returncode == 0, result.stdout + result.stderr
    body = json.loads(result.stdout)
    assert body["status"] == "healthy"
    assert body["services"]["clikit"]["status"] == "healthy"


def test_health_judges_right_after_a_failed_first_attempt() -> None:
    # a backend that refuses is judged after its first attempt, not after --wait
    env = {"CLIKIT_OPEN_SECONDS": "0.5", "CLIKIT_OPEN_FAILS": "true"}
    started = time.monotonic()
    result = devstack("health", "--wait", "300", env=env, kit=True, timeout=120)
    assert time.monotonic() - started < 120
    assert result.returncode == 1
    assert json.loads(result.stdout)["services"]["clikit"]["status"] == "unhealthy"
    assert "still opening" not in result.stderr


def test_health_wait_is_bounded() -> None:
    result = devstack("health", "--wait", "1", env={"CLIKIT_OPEN_SECONDS": "600"}, kit=True, timeout=120)
    assert result.returncode == 1
    assert "still opening after 1 s (--wait): clikit" in result.stderr
    assert json.loads(result.stdout)["status"] == "degraded"
