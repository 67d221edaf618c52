"""Settings: REDIS_NODES parsing, a password in REDIS_URL kept secret, bad values refused."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from devstack_redis.settings import NodeAddress, RedisSettings
from pydantic import ValidationError

from devstack.testing import environment, running_app


def test_nodes_are_parsed_in_order() -> None:
    with environment({"REDIS_NODES": "redis-1=127.0.0.1:7001, redis-2=127.0.0.1:7002,127.0.0.1:7003"}):
        settings = RedisSettings()
    assert settings.nodes == [
        NodeAddress("redis-1", "127.0.0.1", 7001),
        NodeAddress("redis-2", "127.0.0.1", 7002),
        NodeAddress("redis-3", "127.0.0.1", 7003),
    ]
    assert settings.cluster_mode
    assert settings.cluster_secrets_service() == "redis-1"
    assert str(settings.nodes[0]) == "redis-1=127.0.0.1:7001"


def test_empty_nodes_mean_standalone() -> None:
    with environment({"REDIS_NODES": "", "REDIS_URL": "redis://127.0.0.1:6380/1"}):
        settings = RedisSettings()
    assert settings.nodes == []
    assert not settings.cluster_mode
    assert settings.standalone_address() == ("127.0.0.1", 6380)


@pytest.mark.parametrize(
    "nodes",
    ["redis-1=127.0.0.1", "redis-1=127.0.0.1:0", "bad name=127.0.0.1:7001", "a=h:1,a=h:2", "x=:7001"],
)
def test_bad_nodes_are_refused(nodes: str) -> None:
    with environment({"REDIS_NODES": nodes}), pytest.raises(ValidationError):
        RedisSettings()


@pytest.mark.parametrize("name", ["REDIS_KEY_PREFIX", "REDIS_EXAMPLES_PREFIX"])
def test_prefixes_cannot_hold_glob_characters(name: str) -> None:
    with environment({name: "a*b"}), pytest.raises(ValidationError):
        RedisSettings()


def test_password_in_the_url_becomes_a_secret() -> None:
    with environment({"REDIS_URL": "redis://app:s3cr%40t@127.0.0.1:6379/2", "REDIS_PASSWORD": None}):
        settings = RedisSettings()
    assert settings.url == "redis://app@127.0.0.1:6379/2"
    assert settings.password is not None
    assert settings.password.get_secret_value() == "s3cr@t"
    assert "s3cr" not in repr(settings)


async def test_invalid_settings_fail_the_plugin_in_strict_mode() -> None:
    with pytest.raises(Exception, match="redis"):
        async with running_app(env={"REDIS_NODES": "redis-1=nowhere"}):
            pass


async def test_invalid_settings_leave_the_host_serving_when_not_strict() -> None:
    async with running_app(env={"REDIS_NODES": "redis-1=nowhere"}, strict=False) as (_app, client):
        assert (await client.get("/health/")).status_code == 200
        plugins = await (await client.get("/plugins")).get_json()
        record = next(plugin for plugin in plugins["plugins"] if plugin["name"] == "redis")
        assert record["status"] == "failed"
        # the reason names the variable and the value it had (issue 12, finding 8)
        assert record["error"] == (
            "settings failed: REDIS_NODES='redis-1=nowhere': Value error, node 'redis-1' needs an address host:port"
            f" (field nodes at devstack_redis/settings.py:{definition_line('nodes')})"
        )
        assert (await client.get("/examples/cache/k")).status_code == 404


def definition_line(field: str) -> int:
    """The line of settings.py where ``field`` is declared (the reason points there)."""
    source = Path(inspect.getfile(RedisSettings)).read_text().splitlines()
    return next(number for number, line in enumerate(source, 1) if line.lstrip().startswith(f"{field}:"))


@pytest.mark.parametrize("variable", ["REDIS_SECRETS_SERVICE", "REDIS_SECRET_SERVICE"])
def test_the_secrets_service_is_read_under_both_names(variable: str) -> None:
    other = "REDIS_SECRET_SERVICE" if variable == "REDIS_SECRETS_SERVICE" else "REDIS_SECRETS_SERVICE"
    with environment({variable: "redis-cluster", other: None, "REDIS_NODES": "127.0.0.1:7001"}):
        settings = RedisSettings()
    assert settings.secrets_service == "redis-cluster"
    assert settings.cluster_secrets_service() == "redis-cluster"
