"""Core's own endpoints: root, health, metrics, contract, docs and the plugin list."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from quart import Quart, Response, current_app, jsonify, send_file

from devstack import __version__
from devstack.foundation.errors import NotFound
from devstack.http.pipeline import pipeline_of
from devstack.kit.cache import CORE_OWNER, fingerprint
from devstack.observability.metrics import CONTENT_TYPE
from devstack.runtime.app import DevstackState, register_core_route, state_of

ROOT_SECTIONS = ("security", "redis_cluster", "examples")
HEALTH_ALL_CACHE_KEY = "health-all"
JSON = "application/json"
HEALTH_OK = b'{"status":"ok"}\n'
HEALTH_ALIVE = b'{"status":"alive"}\n'

# The Swagger UI 5 and ReDoc bundles, vendored from the npm registry with their licences
# (docs_assets/VERSIONS.txt; refreshed by scripts/refresh-docs-assets.sh). Only these are served.
DOC_ASSETS_DIR = Path(__file__).parents[1] / "docs_assets"
DOC_ASSETS = frozenset(
    {
        "swagger-ui-bundle.js",
        "swagger-ui-standalone-preset.js",
        "swagger-ui.css",
        "favicon-32x32.png",
        "redoc.standalone.js",
    }
)

SWAGGER_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>devstack API</title>
<link rel="icon" href="/docs/assets/favicon-32x32.png">
<link rel="stylesheet" href="/docs/assets/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/assets/swagger-ui-standalone-preset.js"></script>
<script>window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui",
presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset], layout: "BaseLayout",
validatorUrl: null});</script>
</body></html>
"""

REDOC_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>devstack API - ReDoc</title>
<link rel="icon" href="/docs/assets/favicon-32x32.png"></head>
<body><redoc spec-url="/openapi.json"></redoc>
<script src="/docs/assets/redoc.standalone.js"></script></body></html>
"""


def deep_merge(target: dict[str, Any], extra: Mapping[str, Any]) -> None:
    """Merge ``extra`` into ``target``: mappings recursively, lists as sorted unions."""
    for key, value in extra.items():
        current = target.get(key)
        if isinstance(current, dict) and isinstance(value, Mapping):
            deep_merge(current, value)
        elif isinstance(current, list) and isinstance(value, list):
            target[key] = sorted(set(current) | set(value), key=str)
        else:
            target[key] = value


def root_document(app: Quart) -> dict[str, Any]:
    state = state_of(app)
    settings = state.settings
    info = state.contract["info"]
    document: dict[str, Any] = {
        "name": info["title"],
        "version": info["version"],
        "description": "Plugin-based API for local infrastructure services",
        "docs": "/docs",
        "health": "/health/all",
        "metrics": "/metrics",
        "security": {
            "cors": pipeline_of(app).cors.describe(),
            "rate_limiting": {
                "general_endpoints": settings.rate_limit_general,
                "metrics_endpoint": settings.rate_limit_metrics,
                "health_checks": settings.rate_limit_health,
                "enabled": settings.rate_limit_enabled,
            },
            "request_validation": {
                "max_request_size": f"{settings.max_body_bytes // (1024 * 1024)}MB",
                "allowed_content_types": [
                    "application/json",
                    "application/x-www-form-urlencoded",
                    "multipart/form-data",
                    "text/plain",
                ],
            },
            "circuit_breakers": {
                "enabled": True,
                "services": [],
                "failure_threshold": settings.breaker_failure_threshold,
                "reset_timeout": f"{settings.breaker_reset_timeout:g}s",
                "states": state.host.breakers.snapshot(),
            },
        },
        "redis_cluster": {},
        "examples": {},
        "note": "Every service's credentials come from the secrets provider (Vault when installed)",
    }
    for _owner, extra in state.registry.calls.call("devstack_root_info", host=state.host):
        if not extra:
            continue
        for key, value in extra.items():
            if key in ROOT_SECTIONS and isinstance(value, Mapping):
                deep_merge(document[key], value)
    return document


def json_response(value: Any) -> Response:
    """What ``jsonify`` answers (compact JSON and a newline), without its provider's
    per-call setup: the hot core routes use it."""
    return Response(json.dumps(value, separators=(",", ":")) + "\n", content_type=JSON)


def health_all_key(state: DevstackState) -> str:
    """``health-all:<instance id>:<configuration fingerprint>``, under core's namespace.

    /health/all is how this instance sees its backends: never another instance's answer
    (the instance id; its workers share it), and never an answer from before a change of
    core, plugins or settings under a reused id (the fingerprint: core's version, each
    check with its plugin and version, every setting; ``model_dump`` masks secrets).
    """
    records = state.registry.records
    checks = {
        name: [owner, records[owner].version if owner in records else None]
        for name, owner in state.health.owners.items()
    }
    settings = {"core": state.settings.model_dump(mode="json")}
    for owner, model in sorted(state.settings_models.items()):
        settings[owner] = state.host.settings(model).model_dump(mode="json")
    configuration = fingerprint({"core": __version__, "checks": checks, "settings": settings})
    return f"{HEALTH_ALL_CACHE_KEY}:{state.host.instance_id}:{configuration}"


def health_one(name: str) -> Callable[[], Awaitable[Response]]:
    """The handler of ``GET /health/{name}``: always 200, the check's own body."""

    async def handler() -> Response:
        body = await state_of(current_app).health.run(name)
        return jsonify(body)

    handler.__name__ = f"health_{name.replace('-', '_')}"
    return handler


def install(app: Quart) -> None:
    state = state_of(app)

    def route(rule: str, methods: tuple[str, ...] = ("GET",)) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        register_core_route(state, rule, methods)
        return app.route(rule, methods=list(methods))

    @route("/")
    async def root() -> Response:
        return json_response(root_document(app))

    @route("/health/")
    async def health_simple() -> Response:
        return Response(HEALTH_OK, content_type=JSON)

    @route("/health/live")
    async def health_live() -> Response:
        return Response(HEALTH_ALIVE, content_type=JSON)

    @route("/health/ready")
    async def health_ready() -> Response:
        if state.shutting_down:
            response = jsonify({"status": "not_ready", "reason": "shutting_down", "failing": []})
            response.status_code = 503
            return response
        result = await state.health.run_all_shared()
        failing = state.health.critical_failures(result)
        response = jsonify(
            {
                "status": "not_ready" if failing else "ready",
                "reason": "critical_check_failing" if failing else None,
                "failing": failing,
            }
        )
        response.status_code = 503 if failing else 200
        return response

    core_cache = state.host.cache_for(CORE_OWNER)
    health_key: list[str] = []  # computed at the first request, once every plugin is in

    @route("/health/all")
    async def health_all() -> Response:
        if not health_key:
            health_key.append(health_all_key(state))
        body, age = await core_cache.cached_json(
            health_key[0], state.settings.health_cache_ttl, state.health.run_all_shared
        )
        response = json_response(body)
        response.headers["X-Cache"] = "MISS" if age is None else "HIT"
        response.headers["Age"] = str(int(age or 0))
        return response

    @route("/metrics")
    async def metrics() -> Response:
        return Response(state.metrics.exposition(), content_type=CONTENT_TYPE)

    @route("/openapi.json")
    async def openapi() -> Response:
        return jsonify(state.contract)

    @route("/plugins")
    async def plugins() -> Response:
        return jsonify({"plugins": [record.as_dict() for _, record in sorted(state.registry.records.items())]})

    @route("/docs")
    async def docs() -> Response:
        return Response(SWAGGER_PAGE, content_type="text/html; charset=utf-8")

    @route("/redoc")
    async def redoc() -> Response:
        return Response(REDOC_PAGE, content_type="text/html; charset=utf-8")

    @route("/docs/assets/<filename>")
    async def doc_asset(filename: str) -> Response:
        if filename not in DOC_ASSETS:
            raise NotFound("No such documentation asset")
        response = await send_file(DOC_ASSETS_DIR / filename)
        response.cache_control.max_age = 86400
        return response
