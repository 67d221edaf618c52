"""Failure reasons a plugin author can act on: the file and line, the hook signature, the
contract file and line, the dangling $ref, the unknown plugin name; never an exception's text."""

from __future__ import annotations

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
