"""Version compatibility: a plugin declares the plugin API it was built for
(``DEVSTACK_PLUGIN_API``) and core refuses one it cannot run, saying which version the
plugin needs and which core it found."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from devstack import __version__, hookimpl
from devstack.api import PLUGIN_API_VERSION
from devstack.plugin_system.compat import incompatibility
from devstack.plugin_system.registry import PluginError, PluginRegistry
from devstack.runtime.app import state_of
from devstack.testing import running_app


class Built:
    def __init__(self, api: object) -> None:
        self.DEVSTACK_PLUGIN_API = api

    @hookimpl
    def devstack_root_info(self, host: object) -> dict[str, object]:
        return {"built": "yes"}


def test_core_says_which_plugin_api_it_provides() -> None:
    assert PLUGIN_API_VERSION == "1.0"


@pytest.mark.parametrize("api", ["1.0", PLUGIN_API_VERSION])
def test_a_plugin_built_for_this_api_runs(api: str) -> None:
    assert incompatibility(Built(api)) is None


def test_an_older_minor_runs_on_a_newer_core_and_a_newer_minor_does_not() -> None:
    assert incompatibility(Built("1.0"), provided="1.3") is None
    reason = incompatibility(Built("1.4"), provided="1.3")
    assert reason is not None
    assert "built for plugin API 1.4" in reason and "provides plugin API 1.3" in reason


def test_a_plugin_that_declares_nothing_is_taken_as_built_for_1_0() -> None:
    assert incompatibility(SimpleNamespace()) is None
    assert incompatibility(SimpleNamespace(), provided="2.0") is not None


async def test_an_incompatible_plugin_is_listed_failed_with_both_versions() -> None:
    async with running_app(plugins={"future": Built("2.0")}, discover=False, strict=False) as (app, client):
        record = state_of(app).registry.records["future"]
        assert record.status == "failed"
        assert record.error == (
            "compatibility failed: built for plugin API 2.0, needs a core providing 2.0; "
            f"this core (devstack-core {__version__}) provides plugin API {PLUGIN_API_VERSION}"
        )
        listed = {plugin["name"]: plugin for plugin in (await (await client.get("/plugins")).get_json())["plugins"]}
        assert listed["future"]["status"] == "failed" and "plugin API 2.0" in listed["future"]["error"]
        root = await (await client.get("/")).get_json()
        assert "built" not in str(root)  # none of its hooks ran


def test_strict_mode_fails_fast_on_an_incompatible_plugin() -> None:
    registry = PluginRegistry(strict=True)
    with pytest.raises(PluginError, match=r"built for plugin API 1\.9.*provides plugin API 1\.0"):
        registry.register(Built("1.9"), name="newer")


def test_a_declaration_that_is_not_a_version_is_refused() -> None:
    reason = incompatibility(Built("one"))
    assert reason is not None and "'one', not a version MAJOR.MINOR" in reason
