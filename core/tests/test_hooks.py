"""One test (at least) per hook, named ``test_hook_<hook name>``; test_hookspecs.py fails
when a hook spec has none. Plugins here are in-process objects registered by hand."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Mapping
from typing import Any

import pytest
from cache_support import RecordingCache
from prometheus_client import Counter
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from quart import Blueprint, jsonify

from devstack import hookimpl
from devstack.api import CacheUnavailable, HealthCheck, Host, MemoryCache, health_body, validated
from devstack.foundation.errors import ServiceUnavailable
from devstack.plugin_system.registry import PluginError
from devstack.runtime.app import state_of
from devstack.testing import running_app

PING_CONTRACT: dict[str, Any] = {
    "paths": {
        "/ping/{word}": {
            "get": {
                "operationId": "ping",
                "parameters": [
                    {
                        "name": "word",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "pattern": "^[a-z]{1,10}$"},
                    },
                    {
                        "name": "n",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 5, "default": 2},
                    },
                ],
                "responses": {"200": {"description": "pong"}},
            }
        }
    }
}


class PingPlugin:
    """Routes + contract: GET /ping/{word}?n=."""

    @hookimpl
    def devstack_routes(self, host: Host) -> Blueprint:
        blueprint = Blueprint("ping", __name__)

        @blueprint.get("/ping/<word>")
        async def ping(word: str) -> Any:
            return jsonify({"pong": [word] * validated().query["n"]})

        return blueprint

    @hookimpl
    def devstack_contract(self) -> Mapping[str, Any]:
        return PING_CONTRACT


async def test_hook_devstack_routes() -> None:
    async with running_app(plugins={"ping": PingPlugin()}, discover=False) as (app, client):
        response = await client.get("/ping/abc?n=3")
        assert response.status_code == 200
        assert await response.get_json() == {"pong": ["abc", "abc", "abc"]}
        default = await (await client.get("/ping/abc")).get_json()
        assert default == {"pong": ["abc", "abc"]}
        bad = await client.get("/ping/abc?n=9")
        assert bad.status_code == 422
        errors = (await bad.get_json())["details"]["validation_errors"]
        assert errors[0]["loc"] == ["query", "n"]
        assert state_of(app).route_owners[("GET", "/ping/{word}")] == "ping"


async def test_routes_conflict_between_plugins_names_both() -> None:
    class OtherPing(PingPlugin):
        @hookimpl
        def devstack_routes(self, host: Host) -> Blueprint:
            blueprint = Blueprint("ping_again", __name__)

            @blueprint.get("/ping/<word>")
            async def again(word: str) -> Any:
                return jsonify({})

            return blueprint

        @hookimpl
        def devstack_contract(self) -> None:
            return None

    with pytest.raises(PluginError, match=r"GET /ping/\{word\}.*both alpha and beta"):
        async with running_app(plugins={"alpha": PingPlugin(), "beta": OtherPing()}, discover=False):
            pass


async def test_route_conflicting_with_core_is_refused() -> None:
    class Shadow:
        @hookimpl
        def devstack_routes(self, host: Host) -> Blueprint:
            blueprint = Blueprint("shadow", __name__)

            @blueprint.get("/metrics")
            async def fake_metrics() -> Any:
                return "nothing"

            return blueprint

    with pytest.raises(PluginError, match="both core and shadow"):
        async with running_app(plugins={"shadow": Shadow()}, discover=False):
            pass


class ChecksPlugin:
    def __init__(self, delay: float = 0.3) -> None:
        self.delay = delay

    @hookimpl
    def devstack_health_checks(self, host: Host) -> list[HealthCheck]:
        async def slow_ok() -> dict[str, Any]:
            await asyncio.sleep(self.delay)
            return health_body(True, version="1")

        async def slow_ok_too() -> dict[str, Any]:
            await asyncio.sleep(self.delay)
            return health_body(True)

        async def hangs() -> dict[str, Any]:
            await asyncio.sleep(60)
            return health_body(True)

        async def raises() -> dict[str, Any]:
            raise RuntimeError("password=hunter2 leaked by a driver")

        return [
            HealthCheck("alpha", slow_ok),
            HealthCheck("beta", slow_ok_too),
            HealthCheck("stuck", hangs, timeout=0.2, critical=False),
            HealthCheck("broken", raises, critical=False),
        ]


async def test_hook_devstack_health_checks() -> None:
    async with running_app(plugins={"checks": ChecksPlugin()}, discover=False, health_cache_ttl=0) as (_, client):
        one = await client.get("/health/alpha")
        assert one.status_code == 200
        assert await one.get_json() == {"status": "healthy", "version": "1"}

        stuck = await (await client.get("/health/stuck")).get_json()
        assert stuck == {"status": "unhealthy", "error": "stuck health check timed out"}
        broken_response = await client.get("/health/broken")
        broken_text = (await broken_response.get_data()).decode()
        assert "hunter2" not in broken_text and "RuntimeError" not in broken_text
        assert await broken_response.get_json() == {"status": "unhealthy", "error": "broken health check failed"}

        started = time.perf_counter()
        everything = await (await client.get("/health/all")).get_json()
        elapsed = time.perf_counter() - started
        assert everything["status"] == "degraded"
        assert set(everything["services"]) == {"alpha", "beta", "stuck", "broken"}
        # two 0.3 s probes and a 0.2 s timeout run concurrently, not one after another
        assert elapsed < 0.55

        ready = await client.get("/health/ready")  # only non-critical checks fail
        assert ready.status_code == 200


async def test_ready_is_503_while_a_critical_check_fails() -> None:
    class Critical:
        @hookimpl
        def devstack_health_checks(self, host: Host) -> list[HealthCheck]:
            async def down() -> dict[str, Any]:
                return {"status": "unhealthy", "error": "backend down"}

            return [HealthCheck("db", down, critical=True)]

    async with running_app(plugins={"critical": Critical()}, discover=False) as (_, client):
        ready = await client.get("/health/ready")
        assert ready.status_code == 503
        assert await ready.get_json() == {"status": "not_ready", "reason": "critical_check_failing", "failing": ["db"]}
        assert (await client.get("/health/live")).status_code == 200


async def test_concurrent_ready_calls_share_one_round_of_probes() -> None:
    """/health/ready is not rate limited: callers that come while a round of probes runs
    get its result instead of starting one each; a later call runs a fresh round."""
    rounds = []

    class Counted:
        @hookimpl
        def devstack_health_checks(self, host: Host) -> list[HealthCheck]:
            async def probe() -> dict[str, Any]:
                rounds.append(time.monotonic())
                await asyncio.sleep(0.3)
                return {"status": "healthy"}

            return [HealthCheck("counted", probe, critical=True)]

    async with running_app(plugins={"counted": Counted()}, discover=False) as (_, client):
        answers = await asyncio.gather(*(client.get("/health/ready") for _ in range(10)))
        assert [answer.status_code for answer in answers] == [200] * 10
        assert len(rounds) == 1
        assert (await client.get("/health/ready")).status_code == 200
        assert len(rounds) == 2


async def test_duplicate_health_check_names_are_refused() -> None:
    with pytest.raises(PluginError, match="'alpha' is declared by both a and b"):
        async with running_app(plugins={"a": ChecksPlugin(), "b": ChecksPlugin()}, discover=False):
            pass


async def test_health_all_is_cached_with_headers() -> None:
    async with running_app(plugins={"checks": ChecksPlugin(0.0)}, discover=False, health_cache_ttl=30) as (_, client):
        first = await client.get("/health/all")
        second = await client.get("/health/all")
        assert first.headers["X-Cache"] == "MISS"
        assert second.headers["X-Cache"] == "HIT"
        assert int(second.headers["Age"]) >= 0
        assert await first.get_json() == await second.get_json()


async def test_hook_devstack_metrics() -> None:
    class Metered:
        counter: Counter

        @hookimpl
        def devstack_metrics(self, registry: Any, host: Host) -> None:
            self.counter = Counter("metered_things_total", "Things", registry=registry)
            self.counter.inc(3)

    async with running_app(plugins={"metered": Metered()}, discover=False) as (_, client):
        text = (await (await client.get("/metrics")).get_data()).decode()
        assert "metered_things_total 3.0" in text
        assert 'app_info{name="devstack"' in text
        assert "health_check_status" in text or "http_requests_total" in text


async def test_hook_devstack_startup() -> None:
    events: list[str] = []

    class Lifecycle:
        @hookimpl
        async def devstack_startup(self, host: Host) -> None:
            await asyncio.sleep(0)
            events.append("started")

        @hookimpl
        async def devstack_shutdown(self, host: Host) -> None:
            await asyncio.sleep(0)
            events.append("stopped")

    async with running_app(plugins={"life": Lifecycle()}, discover=False):
        assert events == ["started"]
    assert events == ["started", "stopped"]


async def test_hook_devstack_shutdown() -> None:
    """A failing shutdown does not keep the others from closing."""
    closed: list[str] = []

    class BadClose:
        @hookimpl
        async def devstack_shutdown(self, host: Host) -> None:
            raise RuntimeError("boom")

    class GoodClose:
        @hookimpl
        async def devstack_shutdown(self, host: Host) -> None:
            closed.append("good")

        @hookimpl
        def devstack_startup(self, host: Host) -> None:
            return None

    class BadStarter(BadClose):
        @hookimpl
        def devstack_startup(self, host: Host) -> None:
            return None

    async with running_app(plugins={"a-bad": BadStarter(), "b-good": GoodClose()}, discover=False):
        pass
    assert closed == ["good"]


async def test_failing_startup_marks_plugin_failed_when_not_strict() -> None:
    class Explodes:
        @hookimpl
        async def devstack_startup(self, host: Host) -> None:
            raise ConnectionError("secret-password-123")

    async with running_app(plugins={"explodes": Explodes()}, discover=False, strict=False) as (_, client):
        plugins = (await (await client.get("/plugins")).get_json())["plugins"]
        record = next(p for p in plugins if p["name"] == "explodes")
        assert record["status"] == "failed"
        line = Explodes.devstack_startup.__code__.co_firstlineno + 2
        assert record["error"] == f"startup failed: ConnectionError at core/tests/test_hooks.py:{line}"
        assert (await client.get("/health/")).status_code == 200

    # Quart's test app wraps startup errors in its LifespanError; devstack serve exits non-zero
    with pytest.raises(Exception, match=r"plugin 'explodes'.*startup failed: ConnectionError") as raised:
        async with running_app(plugins={"explodes": Explodes()}, discover=False, strict=True):
            pass
    assert "secret-password-123" not in str(raised.value)


async def test_hook_devstack_secrets() -> None:
    class Provider:
        @hookimpl
        async def devstack_secrets(self, service: str, host: Host) -> Mapping[str, str] | None:
            if service == "down":
                raise ServiceUnavailable("vault")
            return {"user": "svc-user", "password": "pw"} if service == "postgres" else None

    async with running_app(plugins={"provider": Provider()}, discover=False) as (app, _):
        host = state_of(app).host
        assert await host.secrets("postgres") == {"user": "svc-user", "password": "pw"}
        assert await host.secrets("mysql") is None
        with pytest.raises(ServiceUnavailable):
            await host.secrets("down")
        with pytest.raises(ValueError):
            await host.secrets("../etc")

    async with running_app(discover=False) as (app, _):
        assert await state_of(app).host.secrets("postgres") is None


async def test_hook_devstack_secret_services() -> None:
    """Declared names, names asked of host.secrets and the API-keys secret are protected."""

    class Reader:
        @hookimpl
        def devstack_secret_services(self, host: Host) -> list[str]:
            return ["reader-db", "reader-cache", "../not-a-name"]

    class Single:
        @hookimpl
        def devstack_secret_services(self, host: Host) -> str:
            return "single-svc"

    plugins = {"reader": Reader(), "single": Single()}
    async with running_app(plugins=plugins, discover=False, api_keys_secret="keys-svc") as (app, _):
        host = state_of(app).host
        assert host.protected_secrets() == {"reader-db", "reader-cache", "single-svc", "keys-svc"}
        assert await host.secrets("asked-later") is None  # no provider: still recorded
        assert "asked-later" in host.protected_secrets()
        for _ in range(3):
            await host.secrets("asked-later")
        assert len(host.protected_secrets()) == 5

    async with running_app(discover=False) as (app, _):
        assert state_of(app).host.protected_secrets() == frozenset()


async def test_hook_devstack_cache_backend() -> None:
    cache = RecordingCache()

    class CacheProvider:
        @hookimpl
        def devstack_cache_backend(self, host: Host) -> RecordingCache:
            return cache

    async with running_app(plugins={"cache": CacheProvider()}, discover=False, health_cache_ttl=30) as (app, client):
        assert state_of(app).host.cache is cache
        await client.get("/health/all")
        [key] = cache.writes
        assert key.startswith(f"core:health-all:{state_of(app).host.instance_id}:")

    # a firstresult hook: the first provider in pluggy's order (plugin-name order) wins ...
    first, second = RecordingCache(), RecordingCache()

    class Provider:
        def __init__(self, cache: RecordingCache) -> None:
            self.cache = cache

        @hookimpl
        def devstack_cache_backend(self, host: Host) -> RecordingCache:
            return self.cache

    async with running_app(plugins={"one": Provider(first), "two": Provider(second)}, discover=False) as (app, _):
        assert state_of(app).host.cache is first

    # ... unless another says tryfirst
    class Eager(Provider):
        @hookimpl(tryfirst=True)
        def devstack_cache_backend(self, host: Host) -> RecordingCache:
            return self.cache

    async with running_app(plugins={"one": Provider(first), "two": Eager(second)}, discover=False) as (app, _):
        assert state_of(app).host.cache is second


async def test_cache_that_is_down_is_bypassed() -> None:
    class DownCache(MemoryCache):
        name = "down"

        async def get(self, key: str) -> bytes | None:
            raise CacheUnavailable

        async def set(self, key: str, value: bytes, ttl: float) -> None:
            raise CacheUnavailable

    class Provider:
        @hookimpl
        def devstack_cache_backend(self, host: Host) -> DownCache:
            return DownCache()

    async with running_app(plugins={"down": Provider()}, discover=False) as (_, client):
        response = await client.get("/health/all")
        assert response.status_code == 200
        assert response.headers["X-Cache"] == "MISS"


async def test_hook_devstack_contract() -> None:
    async with running_app(plugins={"ping": PingPlugin()}, discover=False) as (app, client):
        document = await (await client.get("/openapi.json")).get_json()
        assert "/ping/{word}" in document["paths"]
        assert "/health/all" in document["paths"]
        assert state_of(app).contract_gaps == []


async def test_conflicting_contract_fragments_are_refused() -> None:
    class Clash:
        @hookimpl
        def devstack_contract(self) -> Mapping[str, Any]:
            return {"paths": {"/health/": {"get": {"operationId": "mine", "responses": {}}}}}

    with pytest.raises(PluginError, match=r"GET /health/ is defined by both core and clash"):
        async with running_app(plugins={"clash": Clash()}, discover=False):
            pass


async def test_route_without_operation_is_a_gap_and_fatal_in_strict_mode() -> None:
    class Undocumented(PingPlugin):
        @hookimpl
        def devstack_contract(self) -> None:
            return None

    with pytest.raises(PluginError, match=r"route GET /ping/\{word\} has no operation"):
        async with running_app(plugins={"undocumented": Undocumented()}, discover=False, strict=True):
            pass
    async with running_app(plugins={"undocumented": Undocumented()}, discover=False, strict=False) as (app, _):
        assert state_of(app).contract_gaps == ["route GET /ping/{word} has no operation in the contract"]


CORE_ROOT_KEYS = {"name", "version", "description", "docs", "health", "metrics", "security", "examples", "note"}


async def test_core_alone_names_no_backend_in_the_root_document() -> None:
    async with running_app(discover=False) as (_, client):
        body = await (await client.get("/")).get_json()
        assert set(body) == CORE_ROOT_KEYS
        assert body["examples"] == {}
        assert body["security"]["circuit_breakers"]["services"] == []
        assert "Vault" not in body["note"] and "secrets provider" in body["note"]


async def test_hook_devstack_root_info() -> None:
    class Root:
        @hookimpl
        def devstack_root_info(self, host: Host) -> Mapping[str, Any]:
            return {
                "examples": {"cache": "/examples/cache"},
                "redis_cluster": {"nodes": "/redis/cluster/nodes"},
                "security": {"circuit_breakers": {"services": ["redis"]}},
                "surprise": "not a section",
                "name": {"not": "a text for core's text"},
            }

    async with running_app(plugins={"root": Root()}, discover=False) as (_, client):
        body = await (await client.get("/")).get_json()
        # a plugin's mapping under a new key is a section of its own; the rest is ignored
        assert set(body) == CORE_ROOT_KEYS | {"redis_cluster"}
        assert body["name"] == "devstack API"  # core's text, not the mapping
        assert body["examples"] == {"cache": "/examples/cache"}
        assert body["redis_cluster"] == {"nodes": "/redis/cluster/nodes"}
        assert body["security"]["circuit_breakers"]["services"] == ["redis"]
        assert body["security"]["rate_limiting"] == {
            "general_endpoints": "100/minute",
            "metrics_endpoint": "1000/minute",
            "health_checks": "200/minute",
            "enabled": False,
        }


async def test_root_note_first_answer_wins_and_sections_merge() -> None:
    class Provider:
        def __init__(self, note: str, section: str) -> None:
            self.note, self.section = note, section

        @hookimpl
        def devstack_root_info(self, host: Host) -> Mapping[str, Any]:
            return {"note": self.note, "examples": {self.section: f"/examples/{self.section}"}}

    class Early(Provider):
        @hookimpl(tryfirst=True)
        def devstack_root_info(self, host: Host) -> Mapping[str, Any]:
            return super().devstack_root_info(host)

    plugins = {"alpha": Provider("from alpha", "alpha"), "zulu": Early("from zulu", "zulu")}
    async with running_app(plugins=plugins, discover=False) as (_, client):
        body = await (await client.get("/")).get_json()
        assert body["note"] == "from zulu"  # tryfirst: asked first, so its text wins
        assert body["examples"] == {"alpha": "/examples/alpha", "zulu": "/examples/zulu"}


async def test_root_document_follows_an_answer_changed_in_place() -> None:
    """The document is reused while the answers stay the same: an answer that is the same
    mapping object each time, changed in between, is a new answer."""

    class Changing:
        def __init__(self) -> None:
            self.info: dict[str, Any] = {"examples": {"first": "/examples/first"}}

        @hookimpl
        def devstack_root_info(self, host: Host) -> Mapping[str, Any]:
            return self.info

    plugin = Changing()
    async with running_app(plugins={"changing": plugin}, discover=False) as (_, client):
        assert (await (await client.get("/")).get_json())["examples"] == {"first": "/examples/first"}
        assert (await (await client.get("/")).get_json())["examples"] == {"first": "/examples/first"}
        plugin.info["examples"]["second"] = "/examples/second"
        body = await (await client.get("/")).get_json()
        assert body["examples"] == {"first": "/examples/first", "second": "/examples/second"}
        del plugin.info["examples"]
        assert (await (await client.get("/")).get_json())["examples"] == {}


class ExampleSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EXAMPLE_")
    host: str = "localhost"
    password: SecretStr = SecretStr("")


async def test_hook_devstack_settings() -> None:
    class WithSettings:
        @hookimpl
        def devstack_settings(self) -> type[BaseSettings]:
            return ExampleSettings

    env = {"EXAMPLE_HOST": "db.internal", "EXAMPLE_PASSWORD": "s3cr3t"}
    async with running_app(plugins={"example": WithSettings()}, discover=False, env=env) as (app, _):
        state = state_of(app)
        settings = state.host.settings(ExampleSettings)
        assert settings.host == "db.internal"
        assert settings.password.get_secret_value() == "s3cr3t"
        assert state.settings_models == {"example": ExampleSettings}


async def test_invalid_plugin_settings_fail_that_plugin_only() -> None:
    class Strict(BaseSettings):
        model_config = SettingsConfigDict(env_prefix="STRICTPLUGIN_")
        port: int = 1

    class WithBadSettings:
        @hookimpl
        def devstack_settings(self) -> type[BaseSettings]:
            return Strict

    env = {"STRICTPLUGIN_PORT": "not-a-number"}
    # the reason says where the field is defined: this file, the line of ``port: int = 1``
    defined_at = f"{__name__.replace('.', '/')}.py:{inspect.getsourcelines(Strict)[1] + 2}"
    async with running_app(plugins={"bad": WithBadSettings()}, discover=False, env=env, strict=False) as (_, client):
        plugins = (await (await client.get("/plugins")).get_json())["plugins"]
        assert plugins == [
            {
                "name": "bad",
                "distribution": None,
                "version": None,
                "status": "failed",
                "error": "settings failed: STRICTPLUGIN_PORT='not-a-number': "
                "Input should be a valid integer, unable to parse string as an integer "
                f"(field port at {defined_at})",
                "hooks": ["devstack_settings"],
                "routes": [],
                "health_checks": [],
            }
        ]


async def test_hook_devstack_tls_certificate() -> None:
    """Core asks the certificate provider through the registry; the answer is typed."""
    from datetime import UTC, datetime, timedelta

    from devstack.api import TlsMaterial

    material = TlsMaterial("CERT", "KEY", datetime.now(UTC) + timedelta(hours=1))

    class Issuer:
        @hookimpl
        async def devstack_tls_certificate(self, host: Host) -> TlsMaterial:
            return material

    async with running_app(plugins={"issuer": Issuer()}, discover=False) as (app, _):
        state = state_of(app)
        answer = await state.registry.calls.first_answer("devstack_tls_certificate", host=state.host)
        assert answer == ("issuer", material)
