"""devstack's one masking policy (devstack.foundation.masking, exported by devstack.api): names by
pattern, any depth, URL passwords, ``name=value`` text. (The log formatter's use of it is
tested with the other log tests, in test_production_observability.py.)"""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import SecretStr

from devstack.api import MASK, mask_text, masked, masked_all, sensitive_name

SENSITIVE = [
    "password",
    "DB_Password",
    "root_password",
    "pass",
    "db_pass",
    "passwd",
    "passphrase",
    "pwd",
    "token",
    "api_token",
    "refreshToken",
    "secret",
    "client_secret",
    "secret_id",
    "secretId",
    "secrets",
    "api_key",
    "apiKey",
    "X-API-Key",
    "api_keys",
    "private_key",
    "privateKey",
    "private_key_pem",
    "access_key",
    "keys",
    "credentials",
    "authorization",
    "Cookie",
    "set-cookie",
    "password_file",  # the reference masks every key containing "password"
    "token_type",
]
NOT_SENSITIVE = [
    "user",
    "username",
    "host",
    "port",
    "database",
    "key",
    "cache_key",
    "key_prefix",
    "transit_key",
    "bypass",
    "compass",
    "passage",
    "secrets_service",
    "secret_service",
    "secrets_ttl",
    "api_keys_refresh",
    "api_key_exempt",
    "secret_path",
    "tls_key_file",
    "monkeys",
    "",
]


@pytest.mark.parametrize("name", SENSITIVE)
def test_sensitive_names(name: str) -> None:
    assert sensitive_name(name)


@pytest.mark.parametrize("name", NOT_SENSITIVE)
def test_names_that_are_not_credentials(name: str) -> None:
    assert not sensitive_name(name)


def test_nested_objects_and_lists_are_masked_at_any_depth() -> None:
    data = {
        "user": "app",
        "port": 5432,
        "enabled": True,
        "db": {"host": "h", "pass": "pw-1", "replicas": [{"pwd": "pw-2", "name": "r1"}]},
        "services": [{"secret_id": "sid-3"}, {"api_key": "ak-4"}, ["keys", "k1,k2"]],
        "private_key": {"pem": "-----BEGIN PRIVATE KEY-----"},
        "empty_password": "",
    }
    result = masked(data)
    text = json.dumps(result)
    for value in ("pw-1", "pw-2", "sid-3", "ak-4", "k1,k2", "BEGIN PRIVATE KEY"):
        assert value not in text, value
    assert result["user"] == "app"
    assert result["port"] == 5432
    assert result["enabled"] is True
    assert result["db"]["host"] == "h"
    assert result["db"]["replicas"][0] == {"pwd": MASK, "name": "r1"}
    assert result["services"][2] == ["keys", MASK]
    assert result["private_key"] == MASK
    assert result["empty_password"] == MASK  # a present-but-empty password is still masked
    assert data["db"]["pass"] == "pw-1", "the original is left alone"


def test_deeper_than_the_bound_is_masked_whole() -> None:
    deep: Any = "leaf-value"
    for _ in range(40):
        deep = {"level": deep}
    assert "leaf-value" not in json.dumps(masked(deep))


@pytest.mark.parametrize(
    ("text", "hidden", "kept"),
    [
        ("redis://:hunter2@127.0.0.1:6379/1", "hunter2", "redis://:***@127.0.0.1:6379/1"),
        ("amqp://devstack:s3cret@mq:5672/vh", "s3cret", "amqp://devstack:***@mq:5672/vh"),
        ("postgresql://app:p%40ss@db/app?sslmode=require", "p%40ss", "@db/app?sslmode=require"),
        ("connect to http://u:pw-9@h:1/x failed", "pw-9", "http://u:***@h:1/x failed"),
        ("secret_id=abc123 user=bob", "abc123", "user=bob"),
        ("url=http://h/?password=qwerty&x=1", "qwerty", "x=1"),
        ('{"api_key": "zzz-1", "port": 1}', "zzz-1", '"port": 1'),
        ("Authorization: Bearer tok.en.1", "tok.en.1", "Authorization: "),
        ("X-API-Key: kkk-2", "kkk-2", "X-API-Key: "),
        ("pass=pw-3;keys=a,b", "pw-3", "keys="),
    ],
)
def test_text_masks_url_passwords_and_sensitive_pairs(text: str, hidden: str, kept: str) -> None:
    result = mask_text(text)
    assert hidden not in result
    assert kept in result


def test_text_without_credentials_is_unchanged() -> None:
    for text in ("http://127.0.0.1:15672", "memory://", "time=12:00:01 host=db port=5432", "plain words"):
        assert mask_text(text) == text


def test_masked_all_hides_every_value_and_secret_types() -> None:
    assert masked_all({"user": "app", "database": "db", "n": 1}) == {"user": MASK, "database": MASK, "n": MASK}
    assert masked({"anything": SecretStr("s-1"), "list": [SecretStr("s-2")]}) == {"anything": MASK, "list": [MASK]}
