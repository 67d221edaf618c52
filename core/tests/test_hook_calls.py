"""Hooks are called through pluggy: order, tryfirst, wrappers, monitoring, tracing, and
per-plugin isolation in time (startup and shutdown under a timeout)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Generator, Mapping
from typing import Any

import pytest
from quart import Blueprint, jsonify

from devstack import hookimpl
from devstack.api import Host, ServiceUnavailable
from devstack.runtime.app import state_of
from devstack.testing import running_app

SLOW_CONTRACT: dict[str, Any] = {
    "paths": {"/slow/ping": {"get": {"operationId": "slow_ping", "responses": {"200": {"description": "pong"}}}}}
}


class Secrets:
    """A secrets provider answering with its own name."""

    def __init__(self, name: str) -> None:
        self.name = name

    @hookimpl
    async def devstack_secrets(self, service: str, host: Host) -> Mapping[str, str] | None:
        return {"user": self.name}


class EagerSecrets(Secrets):
    @hookimpl(tryfirst=True)
    async def devstack_secrets(self, service: str, host: Host) -> Mapping[str, str] | None:
        return {"user": self.name}


async def test_providers_answer_in_plugin_name_order_and_tryfirst_goes_ahead() -> None:
    plugins = {"alpha": Secrets("alpha"), "beta": Secrets("beta")}
    async with running_app(plugins=plugins, discover=False) as (app, _):
        assert await state_of(app).host.secrets("postgres") == {"user": "alpha"}

    plugins = {"alpha": Secrets("alpha"), "zulu": EagerSecrets("zulu")}
    async with running_app(plugins=plugins, discover=False) as (app, _):
        assert await state_of(app).host.secrets("postgres") == {"user": "zulu"}


async def test_a_provider_after_the_first_answer_is_not_run() -> None:
    ran: list[str] = []

    class Counting(Secrets):
        @hookimpl
        async def devstack_secrets(self, service: str, host: Host) -> Mapping[str, str] | None:
            ran.append(self.name)
            return {"user": self.name}

    async with running_app(plugins={"a": Counting("a"), "b": Counting("b")}, discover=False) as (app, _):
        await state_of(app).host.secrets("mysql")
    assert ran == ["a"]


async def test_a_provider_that_raises_is_logged_and_the_next_one_answers(caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        @hookimpl
        async def devstack_secrets(self, service: str, host: Host) -> Mapping[str, str] | None:
            raise KeyError("bug in the provider")

    async with running_app(plugins={"a-broken": Broken(), "b-good": Secrets("good")}, discover=False) as (app, _):
        with caplog.at_level(logging.ERROR, logger="devstack.plugins"):
            assert await state_of(app).host.secrets("mysql") == {"user": "good"}
        assert state_of(app).registry.records["a-broken"].status == "loaded"  # a request-time bug: not failed
    failures = [r for r in caplog.records if r.getMessage() == "plugin hook failed"]
    assert failures and failures[0].plugin == "a-broken"  # type: ignore[attr-defined]
    assert failures[0].exc_info is not None


async def test_a_provider_that_is_down_answers_503_to_the_caller() -> None:
    class Down:
        @hookimpl
        async def devstack_secrets(self, service: str, host: Host) -> Mapping[str, str] | None:
            raise ServiceUnavailable("vault")

    async with running_app(plugins={"down": Down()}, discover=False) as (app, _):
        with pytest.raises(ServiceUnavailable):
            await state_of(app).host.secrets("mysql")


async def test_a_hook_wrapper_sees_every_call() -> None:
    seen: list[tuple[str, Any]] = []

    class Spy:
        @hookimpl(wrapper=True)
        def devstack_root_info(self, host: Host) -> Generator[None, Any, Any]:
            result = yield
            seen.append(("root_info", result))
            return result

        @hookimpl(wrapper=True)
        def devstack_secrets(self, service: str, host: Host) -> Generator[None, Any, Any]:
            result = yield
            seen.append(("secrets", service))
            return result

    class Info:
        @hookimpl
        def devstack_root_info(self, host: Host) -> Mapping[str, Any]:
            return {"examples": {"info": "/info"}}

    plugins = {"spy": Spy(), "info": Info(), "vaultish": Secrets("v")}
    async with running_app(plugins=plugins, discover=False) as (app, client):
        for _ in range(3):
            assert (await client.get("/")).status_code == 200
        await state_of(app).host.secrets("redis-1")
    assert [name for name, _ in seen] == ["root_info"] * 3 + ["secrets"]
    assert seen[0][1] == [{"examples": {"info": "/info"}}]
    assert seen[-1] == ("secrets", "redis-1")


async def test_hookcall_monitoring_and_tracing(caplog: pytest.LogCaptureFixture) -> None:
    monitored: list[str] = []
    async with running_app(plugins={"alpha": Secrets("alpha")}, discover=False, trace_plugins=True) as (app, _):
        registry = state_of(app).registry
        undo = registry.pm.add_hookcall_monitoring(lambda name, impls, kwargs: monitored.append(name), lambda *a: None)
        with caplog.at_level(logging.INFO, logger="devstack.plugins"):
            await state_of(app).host.secrets("mysql")
        undo()
    assert monitored == ["devstack_secrets"]
    traces = [r for r in caplog.records if r.getMessage() == "hook call"]
    assert [(r.hook, r.plugin, r.answered) for r in traces] == [("devstack_secrets", "alpha", True)]  # type: ignore[attr-defined]
    assert traces[0].duration_ms >= 0  # type: ignore[attr-defined]


class Hangs:
    """Startup never returns; its route must answer 503 and the others must serve."""

    @hookimpl
    async def devstack_startup(self, host: Host) -> None:
        await asyncio.Event().wait()

    @hookimpl
    def devstack_routes(self, host: Host) -> Blueprint:
        blueprint = Blueprint("slow", __name__)

        @blueprint.get("/slow/ping")
        async def ping() -> Any:
            return jsonify({"pong": True})

        return blueprint

    @hookimpl
    def devstack_contract(self) -> Mapping[str, Any]:
        return SLOW_CONTRACT


class Starts:
    def __init__(self) -> None:
        self.started = self.stopped = False

    @hookimpl
    async def devstack_startup(self, host: Host) -> None:
        self.started = True

    @hookimpl
    async def devstack_shutdown(self, host: Host) -> None:
        self.stopped = True


async def test_a_startup_that_never_returns_fails_that_plugin_only() -> None:
    healthy = Starts()
    plugins = {"hangs": Hangs(), "healthy": healthy}
    async with running_app(plugins=plugins, discover=False, strict=False, plugin_lifecycle_timeout=0.5) as (
        app,
        client,
    ):
        record = state_of(app).registry.records["hangs"]
        assert record.status == "failed"
        assert record.error == "startup failed: startup did not finish within 0.5 s"
        assert healthy.started
        answer = await client.get("/slow/ping")
        assert answer.status_code == 503
        body = await answer.get_json()
        assert body["details"] == {"service": "hangs", "reason": "plugin_failed"}
        assert (await client.get("/health/")).status_code == 200
    assert healthy.stopped


async def test_a_shutdown_that_overruns_is_cut_short_and_the_others_still_stop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class SlowStop(Starts):
        @hookimpl
        async def devstack_shutdown(self, host: Host) -> None:
            await asyncio.sleep(60)

    other = Starts()
    loop = asyncio.get_running_loop()
    began = loop.time()
    with caplog.at_level(logging.ERROR, logger="devstack.plugins"):
        async with running_app(
            plugins={"a-slow": SlowStop(), "b-other": other}, discover=False, plugin_lifecycle_timeout=0.5
        ):
            pass
    assert loop.time() - began < 10
    assert other.stopped
    assert any(getattr(r, "plugin", None) == "a-slow" for r in caplog.records if r.getMessage() == "plugin hook failed")
