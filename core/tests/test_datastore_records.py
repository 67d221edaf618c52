"""The datastore kit's pure parts: stored JSON text, the cached total, credentials, one service type per plugin."""

from __future__ import annotations

import math
from typing import Any

import pytest

from devstack.api import (
    CachedTotal,
    Credentials,
    Datastore,
    DatastorePlugin,
    DatastoreSettings,
    Page,
    Record,
    stored_json,
)


def test_stored_json_is_compact_and_unescaped() -> None:
    assert stored_json({"a": [1, 2.5, "é"], "b": None}) == '{"a":[1,2.5,"é"],"b":null}'
    assert stored_json(1e308) == "1e+308"


def test_stored_json_refuses_values_without_exact_text() -> None:
    with pytest.raises(ValueError):
        stored_json(math.nan)
    with pytest.raises(ValueError):
        stored_json([math.inf])


def test_a_total_is_reused_and_counts_what_was_added() -> None:
    total = CachedTotal(60)
    assert total.recent() is None  # never counted
    total.added()  # nothing to add to yet
    assert total.recent() is None
    total.counted(7)
    total.added()
    assert total.recent() == 8


def test_a_total_cached_for_no_time_is_counted_every_time() -> None:
    total = CachedTotal(0)
    total.counted(3)
    assert total.recent() is None


def test_credentials_authenticate_only_with_a_user_and_a_password() -> None:
    assert Credentials("u", "p", "db", "settings").authenticates
    assert not Credentials("u", "", "db", "settings").authenticates
    assert not Credentials("", "p", "db", "secrets").authenticates
    assert "p" not in repr(Credentials("u", "p", "db", "secrets"))


class NoStore(Datastore[object, DatastoreSettings]):
    """A driver that is never opened: only its declarations are read."""

    settings_model = DatastoreSettings
    health_description = "none"

    async def open_pool(self, credentials: Credentials) -> object:
        raise NotImplementedError

    async def close_pool(self, pool: object, timeout: float) -> None:
        raise NotImplementedError

    async def query(self, pool: object) -> dict[str, Any]:
        raise NotImplementedError

    async def insert(self, pool: object, key: str, value: Any) -> Record:
        raise NotImplementedError

    async def page(self, pool: object, limit: int, offset: int, count: bool) -> Page:
        raise NotImplementedError

    async def version(self, pool: object) -> str:
        raise NotImplementedError


class FirstStore(NoStore):
    name, product = "first", "First"


class SecondStore(NoStore):
    name, product = "second", "Second"


def test_each_plugin_keeps_its_service_under_a_type_of_its_own() -> None:
    first, second = DatastorePlugin(FirstStore, plugin_api="1.0"), DatastorePlugin(SecondStore, plugin_api="1.0")
    assert first.service_class is not second.service_class
    assert first.package == second.package == __name__.split(".")[0]
