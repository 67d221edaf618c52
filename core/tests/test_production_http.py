"""CORS, API keys, request bodies (413/415), X-Request-ID and X-Response-Time, in-process."""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from typing import Any

import pytest
from production_support import production_response_gaps
from quart import Blueprint, jsonify, request

from devstack import hookimpl
from devstack.api import Host
from devstack.foundation.errors import ServiceUnavailable
from devstack.http import apikeys
from devstack.runtime.app import state_of
from devstack.testing import running_app

ALLOWED = "http://localhost:3000"
ECHO_CONTRACT: dict[str, Any] = {
    "paths": {
        "/echo": {
            "post": {
                "operationId": "echo",
                "responses": {
                    "200": {"description": "size"},
                    "401": {"$ref": "#/components/responses/Unauthorized"},
                    "413": {"$ref": "#/components/responses/PayloadTooLarge"},
                    "415": {"$ref": "#/components/responses/UnsupportedMediaType"},
                    "429": {"$ref": "#/components/responses/TooManyRequests"},
                },
            }
        }
    }
}


class EchoPlugin:
    """POST /echo answers the size of the body it read."""

    @hookimpl
    def devstack_routes(self, host: Host) -> Blueprint:
        blueprint = Blueprint("echo", __name__)

        @blueprint.post("/echo")
        async def echo() -> Any:
            return jsonify({"received": len(await request.get_data())})

        return blueprint

    @hookimpl
    def devstack_contract(self) -> Mapping[str, Any]:
        return ECHO_CONTRACT


class KeysProvider:
    """A secrets provider holding the API keys (as the Vault plugin would)."""

    def __init__(self, keys: str | None, fail: bool = False) -> None:
        self.keys = keys
        self.fail = fail
        self.calls = 0

    @hookimpl
    async def devstack_secrets(self, service: str, host: Host) -> Mapping[str, str] | None:
        self.calls += 1
        if self.fail:
            raise ServiceUnavailable("vault")
        if service == "devstack-api" and self.keys is not None:
            return {"keys": self.keys}
        return None


# CORS -------------------------------------------------------------------------------------
async def test_cors_allowed_origin_gets_the_reference_headers() -> None:
    async with running_app(discover=False) as (_app, client):
        response = await client.get("/", headers={"Origin": ALLOWED})
        assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
        assert response.headers["Access-Control-Allow-Credentials"] == "true"
        exposed = {h.strip() for h in response.headers["Access-Control-Expose-Headers"].split(",")}
        assert exposed == {"X-Request-ID", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"}
        assert "Origin" in response.headers["Vary"]
        not_found = await client.get("/nowhere", headers={"Origin": ALLOWED})
        assert not_found.headers["Access-Control-Allow-Origin"] == ALLOWED


async def test_cors_disallowed_origin_gets_no_allow_origin() -> None:
    async with running_app(discover=False) as (_app, client):
        response = await client.get("/", headers={"Origin": "http://evil.example"})
        assert response.status_code == 200
        assert "Access-Control-Allow-Origin" not in response.headers
        assert "Access-Control-Allow-Credentials" not in response.headers
        preflight = await client.options(
            "/", headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "GET"}
        )
        assert preflight.status_code == 400
        assert "Access-Control-Allow-Origin" not in preflight.headers
        assert (await preflight.get_json())["message"] == "Disallowed CORS origin"


async def test_cors_origins_come_from_settings() -> None:
    async with running_app(discover=False, cors_origins="https://app.example") as (_app, client):
        assert (await client.get("/", headers={"Origin": "https://app.example"})).headers[
            "Access-Control-Allow-Origin"
        ] == "https://app.example"
        assert "Access-Control-Allow-Origin" not in (await client.get("/", headers={"Origin": ALLOWED})).headers


async def test_preflight_answered_for_every_route_before_limits_and_keys() -> None:
    settings = {"rate_limit_enabled": True, "rate_limit_general": "1/minute", "api_keys": "k-123456"}
    async with running_app(discover=False, plugins={"echo": EchoPlugin()}, **settings) as (app, client):
        rules = {re.sub(r"<[^>]+>", "x", rule.rule) for rule in app.url_map.iter_rules() if rule.endpoint != "static"}
        assert {"/", "/echo", "/health/all", "/metrics", "/docs/assets/x"} <= rules
        for path in sorted(rules):
            response = await client.options(
                path,
                headers={
                    "Origin": ALLOWED,
                    "Access-Control-Request-Method": "POST",
                    "Access-Control-Request-Headers": "Content-Type, X-API-Key",
                },
            )
            assert response.status_code == 200, path
            assert await response.get_data(as_text=True) == "OK"
            assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
            assert response.headers["Access-Control-Allow-Methods"] == "GET, POST, PUT, DELETE, PATCH, OPTIONS"
            assert response.headers["Access-Control-Allow-Headers"] == REFERENCE_ALLOW_HEADERS
            assert response.headers["Access-Control-Allow-Credentials"] == "true"
            assert response.headers["Access-Control-Max-Age"] == "600"
            assert response.headers["X-Request-ID"]
        refused = await client.options("/", headers={"Origin": ALLOWED, "Access-Control-Request-Method": "TRACE"})
        assert refused.status_code == 400
        assert (await refused.get_json())["message"] == "Disallowed CORS method"


REFERENCE_ALLOW_HEADERS = (
    "Accept, Accept-Language, Authorization, Cache-Control, Content-Language, Content-Type, DNT, Origin, "
    "User-Agent, X-API-Key, X-Request-ID, X-Requested-With"
)


async def preflight(client: Any, origin: str, method: str = "GET", asked: str | None = None) -> Any:
    headers = {"Origin": origin, "Access-Control-Request-Method": method}
    if asked is not None:
        headers["Access-Control-Request-Headers"] = asked
    return await client.options("/", headers=headers)


async def test_preflight_refusals_carry_the_reference_headers() -> None:
    """A refused preflight (origin, or a header outside the fixed list) still carries
    Allow-Methods, Allow-Headers, Max-Age and Allow-Credentials; Allow-Origin only for
    an allowed origin."""
    async with running_app(discover=False) as (_app, client):
        header = await preflight(client, ALLOWED, asked="X-Foo")
        assert header.status_code == 400
        assert (await header.get_json())["message"] == "Disallowed CORS headers"
        assert header.headers["Access-Control-Allow-Origin"] == ALLOWED
        origin = await preflight(client, "http://evil.example")
        assert origin.status_code == 400
        assert "Access-Control-Allow-Origin" not in origin.headers
        for refused in (header, origin):
            assert refused.headers["Access-Control-Allow-Methods"] == "GET, POST, PUT, DELETE, PATCH, OPTIONS"
            assert refused.headers["Access-Control-Allow-Headers"] == REFERENCE_ALLOW_HEADERS
            assert refused.headers["Access-Control-Max-Age"] == "600"
            assert refused.headers["Access-Control-Allow-Credentials"] == "true"
        # header names are case-insensitive; the reference's own list passes whole
        mixed = await preflight(client, ALLOWED, "DELETE", "x-api-key,content-type, X-REQUESTED-WITH")
        assert mixed.status_code == 200


async def test_reference_code_origins_are_allowed_by_default() -> None:
    async with running_app(discover=False) as (_app, client):
        for origin in ("http://localhost:8080", "http://127.0.0.1:3000", "http://localhost:8001"):
            response = await client.get("/health/", headers={"Origin": origin})
            assert response.headers["Access-Control-Allow-Origin"] == origin
        security = (await (await client.get("/")).get_json())["security"]
        assert security["cors"] == {
            "enabled": True,
            "allowed_origins": "http://localhost:3000, http://localhost:8000, http://localhost:8001, "
            "http://localhost:8080, http://127.0.0.1:3000",
            "allowed_methods": "GET, POST, PUT, DELETE, PATCH, OPTIONS",
            "credentials": True,
            "max_age": "600s",
            "allowed_headers": REFERENCE_ALLOW_HEADERS,
            "exposed_headers": "X-Request-ID, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset",
        }
        assert security["circuit_breakers"]["enabled"] is True


async def test_cors_methods_headers_and_exposed_headers_come_from_settings() -> None:
    settings = {
        "cors_methods": "GET,POST",
        "cors_headers": "X-Custom",
        "cors_expose_headers": "X-Request-ID,X-Extra",
    }
    async with running_app(discover=False, **settings) as (_app, client):
        ok = await preflight(client, ALLOWED, "POST", "X-Custom, Content-Type")
        assert ok.status_code == 200
        assert ok.headers["Access-Control-Allow-Methods"] == "GET, POST"
        # the CORS-safelisted request headers are always allowed, as in the reference
        assert ok.headers["Access-Control-Allow-Headers"] == (
            "Accept, Accept-Language, Content-Language, Content-Type, X-Custom"
        )
        assert (await preflight(client, ALLOWED, "PUT")).status_code == 400
        assert (await preflight(client, ALLOWED, "POST", "Authorization")).status_code == 400
        simple = await client.get("/", headers={"Origin": ALLOWED})
        assert simple.headers["Access-Control-Expose-Headers"] == "X-Request-ID, X-Extra"
        cors = (await simple.get_json())["security"]["cors"]
        assert cors["allowed_methods"] == "GET, POST"
        assert cors["exposed_headers"] == "X-Request-ID, X-Extra"
        assert cors["allowed_headers"] == "Accept, Accept-Language, Content-Language, Content-Type, X-Custom"


# API keys ---------------------------------------------------------------------------------
async def test_api_keys_are_off_by_default() -> None:
    async with running_app(discover=False) as (_app, client):
        assert (await client.get("/")).status_code == 200


async def test_api_keys_from_settings() -> None:
    async with running_app(discover=False, api_keys="first-key-1,second-key-2") as (_app, client):
        missing = await client.get("/", headers={"X-Request-ID": "no-key", "Origin": ALLOWED})
        assert missing.status_code == 401
        body = await missing.get_json()
        assert body == {
            "error": "AuthenticationError",
            "message": "API key required: send it in the X-API-Key header",
            "status_code": 401,
            "request_id": "no-key",
        }
        assert missing.headers["WWW-Authenticate"] == 'ApiKey header="X-API-Key"'
        assert missing.headers["Access-Control-Allow-Origin"] == ALLOWED  # browsers can read the 401
        wrong = await client.get("/", headers={"X-API-Key": "first-key-"})
        assert wrong.status_code == 401
        assert (await wrong.get_json())["message"] == "Invalid API key"
        assert (await client.get("/", headers={"X-API-Key": "first-key-1"})).status_code == 200
        assert (await client.get("/plugins", headers={"X-API-Key": "second-key-2"})).status_code == 200
        assert (await client.get("/nowhere", headers={"X-API-Key": "second-key-2"})).status_code == 404
        assert (await client.get("/nowhere")).status_code == 401
        for exempt in ("/health/live", "/health/ready", "/metrics"):
            assert (await client.get(exempt)).status_code == 200, exempt


async def test_api_key_exemptions_are_configurable() -> None:
    async with running_app(discover=False, api_keys="k-abcdef", api_key_exempt="/health/") as (_app, client):
        assert (await client.get("/health/")).status_code == 200
        assert (await client.get("/metrics")).status_code == 401


async def test_api_keys_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    original = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return original(a, b)

    monkeypatch.setattr(apikeys.hmac, "compare_digest", spy)
    async with running_app(discover=False, api_keys="aaaa-1,bbbb-2") as (_app, client):
        assert (await client.get("/", headers={"X-API-Key": "aaaa-1"})).status_code == 200
    # every key is compared, also after a match
    assert calls == [(b"aaaa-1", b"aaaa-1"), (b"aaaa-1", b"bbbb-2")]


async def test_api_keys_from_the_secrets_hook() -> None:
    provider = KeysProvider("vault-key-1, vault-key-2")
    async with running_app(discover=False, plugins={"vaultish": provider}, api_keys_secret="devstack-api") as (
        _app,
        client,
    ):
        assert provider.calls == 1  # read once at startup
        assert (await client.get("/", headers={"X-API-Key": "vault-key-2"})).status_code == 200
        assert (await client.get("/", headers={"X-API-Key": "nope"})).status_code == 401
        assert (await client.get("/")).status_code == 401
        assert provider.calls == 1  # not re-read per request


async def test_api_keys_secret_refresh_keeps_old_keys_while_provider_down() -> None:
    provider = KeysProvider("old-key-1")
    settings = {"api_keys_secret": "devstack-api", "api_keys_refresh": 0.01}
    async with running_app(discover=False, plugins={"vaultish": provider}, **settings) as (_app, client):
        provider.keys = "new-key-2"
        import asyncio

        await asyncio.sleep(0.05)
        await client.get("/", headers={"X-API-Key": "old-key-1"})  # starts the background refresh
        await asyncio.sleep(0.05)
        assert (await client.get("/", headers={"X-API-Key": "new-key-2"})).status_code == 200
        provider.fail = True
        await asyncio.sleep(0.05)
        await client.get("/", headers={"X-API-Key": "new-key-2"})
        await asyncio.sleep(0.05)
        assert (await client.get("/", headers={"X-API-Key": "new-key-2"})).status_code == 200


async def test_api_keys_fail_closed_when_the_secret_cannot_be_read() -> None:
    provider = KeysProvider(None, fail=True)
    async with running_app(discover=False, plugins={"vaultish": provider}, api_keys_secret="devstack-api") as (
        _app,
        client,
    ):
        assert (await client.get("/", headers={"X-API-Key": "anything"})).status_code == 401
        assert (await client.get("/health/live")).status_code == 200


# bodies -----------------------------------------------------------------------------------
async def test_unsupported_content_type_is_415() -> None:
    async with running_app(discover=False, plugins={"echo": EchoPlugin()}) as (_app, client):
        refused = await client.post("/echo", data=b"<a/>", headers={"Content-Type": "application/xml"})
        assert refused.status_code == 415
        body = await refused.get_json()
        assert body["error"] == "UnsupportedMediaTypeError"
        assert set(body) == {"error", "message", "status_code", "request_id"}
        no_type = await client.post("/echo", data=b"abc")
        assert no_type.status_code == 415
        for content_type in (
            "application/json",
            "application/json; charset=utf-8",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "text/plain",
        ):
            ok = await client.post("/echo", data=b"{}", headers={"Content-Type": content_type})
            assert ok.status_code == 200, content_type
            assert await ok.get_json() == {"received": 2}
        empty = await client.post("/echo")
        assert empty.status_code == 200


async def test_body_over_the_limit_is_413() -> None:
    async with running_app(discover=False, plugins={"echo": EchoPlugin()}, max_body_bytes=1000) as (_app, client):
        ok = await client.post("/echo", data=b"x" * 1000, headers={"Content-Type": "text/plain"})
        assert ok.status_code == 200
        refused = await client.post("/echo", data=b"x" * 1001, headers={"Content-Type": "text/plain"})
        assert refused.status_code == 413
        body = await refused.get_json()
        assert body["error"] == "PayloadTooLargeError"
        assert body["message"] == "Request body exceeds 1000 bytes"


async def test_default_body_limit_is_10_mb() -> None:
    async with running_app(discover=False, plugins={"echo": EchoPlugin()}) as (_app, client):
        size = 10 * 1024 * 1024
        assert (await client.post("/echo", data=b"x" * size, headers={"Content-Type": "text/plain"})).status_code == 200
        refused = await client.post("/echo", data=b"x" * (size + 1), headers={"Content-Type": "text/plain"})
        assert refused.status_code == 413


# request id and response time -------------------------------------------------------------
async def test_request_id_kept_or_generated_on_every_response() -> None:
    async with running_app(discover=False, api_keys="k-123456") as (_app, client):
        kept = await client.get("/health/live", headers={"X-Request-ID": "abc-123_x.y:z"})
        assert kept.headers["X-Request-ID"] == "abc-123_x.y:z"
        for bad in ("a" * 129, "has space", "semi;colon", "é"):
            replaced = await client.get("/health/live", headers={"X-Request-ID": bad})
            assert re.fullmatch(r"[0-9a-f]{32}", replaced.headers["X-Request-ID"]), bad
        longest = await client.get("/health/live", headers={"X-Request-ID": "b" * 128})
        assert longest.headers["X-Request-ID"] == "b" * 128
        for response in (
            await client.get("/"),  # 401
            await client.get("/nowhere", headers={"X-API-Key": "k-123456"}),  # 404
            await client.post("/health/live", headers={"X-API-Key": "k-123456"}),  # 405
            await client.get("/metrics"),
        ):
            assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])
            assert re.fullmatch(r"\d+\.\d\dms", response.headers["X-Response-Time"])
            if response.status_code >= 400:
                assert (await response.get_json())["request_id"] == response.headers["X-Request-ID"]


async def test_bodies_of_other_methods_are_not_read() -> None:
    async with running_app(discover=False, max_body_bytes=10) as (_app, client):
        response = await client.get("/", data=b"x" * 100, headers={"Content-Type": "application/xml"})
        assert response.status_code == 200


async def test_contract_lists_the_answers_of_the_pipeline() -> None:
    async with running_app(discover=False, plugins={"echo": EchoPlugin()}) as (app, _client):
        assert production_response_gaps(state_of(app).contract) == []
