"""A broken plugin does not take the host down; strict mode makes it fatal."""

from __future__ import annotations

from typing import Any

import pluggy
import pytest
from quart import Blueprint

from devstack import hookimpl
from devstack.api import Host
from devstack.plugin_system.registry import PluginError, PluginRegistry, describe_failure
from devstack.testing import running_app

unknown_marker = pluggy.HookimplMarker("devstack")


class UnknownHook:
    @unknown_marker
    def devstack_no_such_hook(self) -> None:
        return None


class WrongArguments:
    @hookimpl
    def devstack_routes(self, host: Host, surprise: int) -> None:
        return None


class RoutesRaise:
    @hookimpl
    def devstack_routes(self, host: Host) -> Blueprint:
        raise KeyError("token=abc")


def test_unknown_hook_fails_the_plugin() -> None:
    registry = PluginRegistry(strict=False)
    registry.register(UnknownHook(), name="unknown")
    record = registry.records["unknown"]
    assert record.status == "failed"
    assert (record.error or "").startswith("registration failed: unknown hooks ['devstack_no_such_hook'] (at ")
    registry.check()  # nothing pending once the plugin is out


def test_wrong_hook_arguments_fail_the_plugin() -> None:
    registry = PluginRegistry(strict=False)
    registry.register(WrongArguments(), name="wrong")
    assert registry.records["wrong"].status == "failed"
    error = registry.records["wrong"].error or ""
    assert error.startswith("registration failed: Plugin 'wrong' for hook 'devstack_routes'")
    assert "{'surprise'} are declared in the hookimpl but can not be found in the hookspec" in error


def test_strict_mode_fails_fast() -> None:
    registry = PluginRegistry(strict=True)
    with pytest.raises(PluginError, match="'unknown'"):
        registry.register(UnknownHook(), name="unknown")


async def test_failing_routes_hook_leaves_the_rest_serving() -> None:
    async with running_app(plugins={"raises": RoutesRaise()}, discover=False, strict=False) as (_, client):
        assert (await client.get("/health/")).status_code == 200
        body: dict[str, Any] = await (await client.get("/plugins")).get_json()
        assert body["plugins"][0]["status"] == "failed"
        line = RoutesRaise.devstack_routes.__code__.co_firstlineno + 2
        assert body["plugins"][0]["error"] == f"routes failed: KeyError at core/tests/test_isolation.py:{line}"
        assert "abc" not in str(body)


def test_failure_reason_names_missing_module_but_never_the_message() -> None:
    try:
        import devstack_module_that_does_not_exist  # type: ignore[import-not-found]  # noqa: F401
    except ModuleNotFoundError as exc:
        assert describe_failure("import", exc) == (
            "import failed: ModuleNotFoundError (no module named 'devstack_module_that_does_not_exist')"
        )
    assert describe_failure("startup", ValueError("password=x")) == "startup failed: ValueError"
    try:
        raise ValueError("password=x")
    except ValueError as raised:
        assert describe_failure("startup", raised, "core").startswith(
            "startup failed: ValueError at core/tests/test_isolation.py:"
        )


def test_allow_and_deny_lists_disable_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib.metadata import EntryPoint

    entry_points = [
        EntryPoint("alpha", "devstack.kit.cache", "devstack.plugins"),
        EntryPoint("beta", "devstack.kit.cache", "devstack.plugins"),
        EntryPoint("gamma", "devstack_no_such_module_anywhere", "devstack.plugins"),
    ]
    monkeypatch.setattr("devstack.plugin_system.registry.entry_points", lambda group: entry_points)
    registry = PluginRegistry(strict=False)
    registry.discover(allow=["alpha", "gamma"], deny=["alpha"])
    statuses = {name: (record.status, record.error) for name, record in registry.records.items()}
    assert statuses == {
        "alpha": ("disabled", None),
        "beta": ("disabled", None),
        "gamma": ("failed", "import failed: ModuleNotFoundError (no module named 'devstack_no_such_module_anywhere')"),
    }
