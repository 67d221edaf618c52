"""The datastore kit's settings base: the shared names, old names still read, errors naming them."""

from __future__ import annotations

import pytest
from pydantic import Field, ValidationError
from pydantic_settings import SettingsConfigDict

from devstack.api import DatastoreSettings
from devstack.foundation.settings_errors import invalid_settings


class WidgetSettings(DatastoreSettings):
    model_config = SettingsConfigDict(env_prefix="WIDGETDB_")
    legacy_env = {"database": "db", "pool_min_size": "min_pool_size"}

    port: int = Field(4100, ge=1, le=65535, description="Server port")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE", "DB", "POOL_MIN_SIZE", "MIN_POOL_SIZE", "POOL_MAX_SIZE", "PASSWORD"):
        monkeypatch.delenv(f"WIDGETDB_{name}", raising=False)


def test_defaults_are_shared_and_the_port_is_the_plugins() -> None:
    settings = WidgetSettings()
    assert (settings.host, settings.port, settings.user, settings.database) == ("127.0.0.1", 4100, "appuser", "appdb")
    assert (settings.pool_min_size, settings.pool_max_size, settings.timeout) == (5, 20, 5.0)
    assert settings.password.get_secret_value() == ""
    assert settings.secrets_service == ""


def test_an_old_variable_name_is_still_read_and_the_new_one_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WIDGETDB_DB", "old")
    monkeypatch.setenv("WIDGETDB_MIN_POOL_SIZE", "2")
    assert (WidgetSettings().database, WidgetSettings().pool_min_size) == ("old", 2)
    monkeypatch.setenv("WIDGETDB_DATABASE", "new")
    assert WidgetSettings().database == "new"
    assert WidgetSettings(database="given").database == "given"  # fields keep their names


def test_the_base_class_itself_is_not_renamed() -> None:
    assert DatastoreSettings.model_fields["database"].validation_alias is None


@pytest.mark.parametrize(("name", "value"), [("WIDGETDB_MIN_POOL_SIZE", "many"), ("WIDGETDB_POOL_MIN_SIZE", "-1")])
def test_an_invalid_value_is_reported_under_the_name_it_was_set_by(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as caught:
        WidgetSettings()
    [line] = invalid_settings(WidgetSettings, caught.value)
    assert line.startswith(f"{name}={value!r}: ")


def test_pool_bounds_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WIDGETDB_POOL_MIN_SIZE", "30")
    monkeypatch.setenv("WIDGETDB_POOL_MAX_SIZE", "10")
    with pytest.raises(ValidationError, match="pool_min_size must not exceed pool_max_size"):
        WidgetSettings()
