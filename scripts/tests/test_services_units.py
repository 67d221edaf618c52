"""The tool's pure functions: the credentials file, env quoting, INFO parsing, SQL quoting,
the settings it reads from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest
from devstack_services.common import Failure, env_quote
from devstack_services.mariadb import sql_str
from devstack_services.redis import info_field
from devstack_services.settings import SERVICES, load, parse_credentials
from devstack_services.vault_api import errors_of, mount_type

from .services_support import REPO


def test_parse_credentials_reads_the_dev_file_format() -> None:
    text = "# comment\nA=plain\n\nexport B='quoted value'\nC=\"dq\"\n  # D=ignored\nE=x=y\n"
    assert parse_credentials(text) == {"A": "plain", "B": "quoted value", "C": "dq", "E": "x=y"}


def test_env_quote_leaves_safe_values_and_quotes_the_rest() -> None:
    assert env_quote("redis-1=127.0.0.1:7001,redis-2=127.0.0.1:7002") == "redis-1=127.0.0.1:7001,redis-2=127.0.0.1:7002"
    assert env_quote("") == ""
    assert env_quote("a b") == "'a b'"
    assert env_quote("it's") == "'it'\\''s'"


def test_info_field_parses_redis_answers() -> None:
    answer = "cluster_state:ok\r\ncluster_slots_assigned:16384\r\ncluster_known_nodes:3\r\n"
    assert info_field(answer, "cluster_state") == "ok"
    assert info_field(answer, "cluster_known_nodes") == "3"
    assert info_field(answer, "missing") == ""


def test_sql_str_escapes_quotes_and_backslashes() -> None:
    assert sql_str("o'k\\") == "'o''k\\\\'"


def test_vault_answer_helpers() -> None:
    assert mount_type({"data": {"secret/": {"type": "kv"}}}, "secret/") == "kv"
    assert mount_type({"data": {}}, "pki/") == ""
    assert errors_of('{"errors":["permission denied"]}') == '["permission denied"]'


def test_settings_defaults_and_overrides(tmp_path: Path) -> None:
    defaults = load(REPO, {"DEVSTACK_SERVICES_RUN_DIR": str(tmp_path)})
    assert (defaults.pg_port, defaults.redis_port, defaults.cluster_ports) == (5432, 6379, (7001, 7002, 7003))
    assert (defaults.wait, defaults.rabbit_wait, defaults.only) == (30, 90, SERVICES)
    moved = load(REPO, {"DEVSTACK_SERVICES_RUN_DIR": str(tmp_path), "DEVSTACK_SERVICES_VAULT_PORT": "18200"})
    assert moved.vault_addr == "http://127.0.0.1:18200" and moved.redis_dir == tmp_path.resolve() / "redis"
    with pytest.raises(Failure, match="DEVSTACK_SERVICES_MONGODB_PORT must be a TCP port"):
        load(REPO, {"DEVSTACK_SERVICES_RUN_DIR": str(tmp_path), "DEVSTACK_SERVICES_MONGODB_PORT": "99999"})
    with pytest.raises(Failure, match="DEVSTACK_RABBIT_WAIT_TIMEOUT must be a whole number"):
        load(REPO, {"DEVSTACK_SERVICES_RUN_DIR": str(tmp_path), "DEVSTACK_RABBIT_WAIT_TIMEOUT": "-1"})
