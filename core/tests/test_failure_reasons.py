"""Failure reasons a plugin author can act on: the file and line, the hook signature, the
contract file and line, the dangling $ref, the unknown plugin name; never an exception's text."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from devstack import hookimpl
from devstack.plugin_system.registry import PluginError, PluginRegistry
from devstack.runtime.app import state_of
from devstack.testing import running_app


class FileContract:
    def __init__(self, path: Path) -> None:
        self.path = path

    @hookimpl
    def devstack_contract(self) -> Path:
        return self.path


class MappingContract:
    def __init__(self, fragment: dict[str, Any]) -> None:
        self.fragment = fragment

    @hookimpl
    def devstack_contract(self) -> dict[str, Any]:
        return self.fragment


async def reason_of(plugin: object) -> str:
    async with running_app(plugins={"author": plugin}, discover=False, strict=False) as (app, client):
        assert (await client.get("/health/")).status_code == 200  # the rest serves
        record = state_of(app).registry.records["author"]
        assert record.status == "failed"
        return record.error or ""


async def test_a_contract_that_does_not_parse_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "devstack_author" / "contract.yaml"
    path.parent.mkdir()
    path.write_text("paths:\n  /x:\n    get: {responses: {200: {description: ok}}\n  bad: [\n")
    reason = await reason_of(FileContract(path))
    assert reason.startswith("contract failed: devstack_author/contract.yaml: line ")
    assert "column" in reason


async def test_a_missing_contract_file_says_package_data(tmp_path: Path) -> None:
    reason = await reason_of(FileContract(tmp_path / "devstack_author" / "contract.yaml"))
    assert reason == (
        "contract failed: devstack_author/contract.yaml: no such file (is it package data of the distribution?)"
    )


async def test_a_dangling_ref_fails_the_plugin_and_the_served_contract_stays_whole() -> None:
    fragment = {
        "paths": {
            "/author/x": {
                "get": {
                    "operationId": "author_x",
                    "responses": {
                        "200": {
                            "description": "ok",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Nope"}}},
                        },
                        "404": {"$ref": "#/components/responses/NotFound"},  # core's: resolves
                    },
                }
            }
        }
    }
    async with running_app(plugins={"author": MappingContract(fragment)}, discover=False, strict=False) as (
        app,
        client,
    ):
        record = state_of(app).registry.records["author"]
        assert record.error == (
            "contract failed: author: $ref names nothing: "
            "paths./author/x.get.responses.200.content.application/json.schema: #/components/schemas/Nope"
        )
        served = await (await client.get("/openapi.json")).get_json()
        assert "/author/x" not in served["paths"]


def test_an_unknown_name_in_the_allowlist_is_an_error_naming_the_installed_plugins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from importlib.metadata import EntryPoint

    found = [EntryPoint("alpha", "devstack.kit.cache", "devstack.plugins")]
    monkeypatch.setattr("devstack.plugin_system.registry.entry_points", lambda group: found)
    with pytest.raises(PluginError) as raised:
        PluginRegistry().discover(allow=['["alpha"', '"beta"]'])
    assert str(raised.value) == (
        "DEVSTACK_PLUGINS names '\"beta\"]', '[\"alpha\"', which no installed plugin has "
        "(installed: alpha; the format is comma-separated names)"
    )
    with pytest.raises(PluginError, match="DEVSTACK_DISABLE_PLUGINS names 'alpah'"):
        PluginRegistry().discover(deny=["alpah"])


async def test_a_misshapen_contract_names_the_file_line_and_entry(tmp_path: Path) -> None:
    path = tmp_path / "devstack_author" / "contract.yaml"
    path.parent.mkdir()
    path.write_text("paths:\n  /author/x:\n    fetch:\n      responses: {}\ntags:\n  - description: no name\n")
    reason = await reason_of(FileContract(path))
    assert reason == (
        "contract failed: devstack_author/contract.yaml: paths./author/x.fetch (line 4): 'fetch' is no HTTP method "
        "(one of get, put, post, delete, patch, options, head); tags[0] (line 6): a tag is a mapping with a name"
    )


async def test_a_dangling_ref_in_a_file_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "devstack_author" / "contract.yaml"
    path.parent.mkdir()
    path.write_text(
        "paths:\n  /author/x:\n    get:\n      responses:\n        '200': {$ref: '#/components/responses/Nope'}\n"
    )
    reason = await reason_of(FileContract(path))
    assert reason == (
        "contract failed: devstack_author/contract.yaml: $ref names nothing: "
        "paths./author/x.get.responses.200 (line 5): #/components/responses/Nope"
    )


class WrongArguments:
    @hookimpl
    def devstack_routes(self, host: Any, surprise: int) -> None:
        return None


class Misspelled:
    @hookimpl
    def devstack_rutes(self, host: Any) -> None:
        return None


def test_a_refused_hook_names_the_file_and_line_of_its_implementation() -> None:
    registry = PluginRegistry()
    registry.register(WrongArguments(), name="wrong")
    reason = registry.records["wrong"].error or ""
    line = WrongArguments.devstack_routes.__code__.co_firstlineno  # the decorator's line
    assert reason.startswith("registration failed: Plugin 'wrong' for hook 'devstack_routes'")
    assert "{'surprise'} are declared in the hookimpl" in reason
    assert reason.endswith(f"tests/test_failure_reasons.py:{line})")


def test_an_unknown_hook_names_its_line_and_the_hook_meant() -> None:
    registry = PluginRegistry()
    registry.register(Misspelled(), name="typo")
    line = Misspelled.devstack_rutes.__code__.co_firstlineno
    reason = registry.records["typo"].error or ""
    assert reason.startswith("registration failed: unknown hooks ['devstack_rutes'] (at ")
    assert reason.endswith(f"tests/test_failure_reasons.py:{line}; devstack_rutes: did you mean devstack_routes?)")


class RaisingRoute:
    @hookimpl
    def devstack_routes(self, host: Any) -> Any:
        from quart import Blueprint

        blueprint = Blueprint("author", __name__)

        @blueprint.get("/author/boom")
        async def boom() -> str:
            raise RuntimeError("could not reach postgres://app:hunter2@db:5432/app")

        return blueprint


async def test_an_unexpected_error_logs_its_traceback_redacted_and_answers_a_clean_500(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from devstack.observability.logs import JsonFormatter

    with caplog.at_level(logging.ERROR, logger="devstack.request"):
        async with running_app(plugins={"author": RaisingRoute()}, discover=False, strict=False) as (_, client):
            response = await client.get("/author/boom")
    body = await response.get_data(as_text=True)
    assert response.status_code == 500
    assert "hunter2" not in body and "RuntimeError" not in body and "Traceback" not in body
    [record] = [r for r in caplog.records if r.getMessage() == "unhandled error"]
    assert record.levelno == logging.ERROR
    line = json.loads(JsonFormatter().format(record))
    assert line["error_type"] == "RuntimeError"
    assert line["error"] == "RuntimeError: could not reach postgres://app:***@db:5432/app"
    assert line["location"].endswith(f"test_failure_reasons.py:{line_of_raise()}")
    assert "Traceback (most recent call last)" in line["traceback"]
    assert 'raise RuntimeError("could not reach postgres://app:***@db:5432/app")' in line["traceback"]
    assert "hunter2" not in json.dumps(line)


def line_of_raise() -> int:
    source = Path(__file__).read_text().splitlines()
    return next(i for i, text in enumerate(source, 1) if "raise RuntimeError(" in text)


def test_a_list_setting_is_comma_separated_and_a_json_list_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    from devstack.foundation.settings import CoreSettings
    from devstack.foundation.settings_errors import invalid_settings

    monkeypatch.setenv("DEVSTACK_PLUGINS", " alpha, beta ,")
    monkeypatch.setenv("DEVSTACK_ALLOWED_HOSTS", "[::1],localhost")  # brackets that are no JSON list
    settings = CoreSettings()
    assert settings.plugins == ["alpha", "beta"]
    assert settings.allowed_hosts == ["[::1]", "localhost"]
    monkeypatch.setenv("DEVSTACK_PLUGINS", '["alpha", "beta"]')
    with pytest.raises(ValidationError) as raised:
        CoreSettings()
    assert invalid_settings(CoreSettings, raised.value) == [
        'DEVSTACK_PLUGINS=\'["alpha", "beta"]\': Value error, a list setting is comma-separated (a,b,c), '
        "not a JSON list"
    ]


def test_the_settings_table_shows_lists_as_they_are_written() -> None:
    from devstack.foundation.settings_table import settings_markdown

    rows = [
        {"owner": "core", "env": "DEVSTACK_PLUGINS", "default": [], "description": "Allowlist"},
        {"owner": "core", "env": "DEVSTACK_API_KEY_EXEMPT", "default": ["/a", "/b"], "description": "Paths"},
    ]
    assert settings_markdown(rows).splitlines()[2:] == [
        '| core | `DEVSTACK_PLUGINS` | `""` | Allowlist (comma-separated) |',
        '| core | `DEVSTACK_API_KEY_EXEMPT` | `"/a,/b"` | Paths (comma-separated) |',
    ]


@pytest.mark.parametrize("setting", ["DEVSTACK_PLUGINS", "DEVSTACK_DISABLE_PLUGINS"])
def test_a_misspelled_name_in_the_environment_is_exit_2_naming_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], setting: str
) -> None:
    from devstack.cli import main

    monkeypatch.setenv(setting, "valt")
    assert main(["plugins"]) == 2
    error = capsys.readouterr().err
    assert f"devstack: {setting} names 'valt', which no installed plugin has (installed: " in error
    assert "the format is comma-separated names)" in error
