"""Core's own endpoints: root, health, metrics, contract, docs and the plugin list."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from quart import Quart, Response, current_app, jsonify, send_file

from devstack import __version__
from devstack.foundation.errors import NotFound
from devstack.kit.cache import CORE_OWNER, fingerprint
from devstack.observability.metrics import CONTENT_TYPE
from devstack.runtime.docs_pages import DOC_ASSETS, DOC_ASSETS_DIR, REDOC_PAGE, SWAGGER_PAGE
from devstack.runtime.root import RootDocument
from devstack.runtime.state import DevstackState, state_of

HEALTH_ALL_CACHE_KEY = "health-all"
JSON = "application/json"
HTML = "text/html; charset=utf-8"
HEALTH_OK = b'{"status":"ok"}\n'
HEALTH_ALIVE = b'{"status":"alive"}\n'
COMPACT = json.JSONEncoder(separators=(",", ":"))  # made once: json.dumps with options makes one per call


def json_response(value: Any) -> Response:
    """What ``jsonify`` answers (compact JSON and a newline), without its provider's
    per-call setup: the hot core routes use it."""
    return Response(COMPACT.encode(value) + "\n", content_type=JSON)


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


class CoreRoutes:
    """The handlers of core's routes, over one application's state."""

    RULES: tuple[tuple[str, str], ...] = (
        ("/", "root"),
        ("/health/", "health_simple"),
        ("/health/live", "health_live"),
        ("/health/ready", "health_ready"),
        ("/health/all", "health_all"),
        ("/metrics", "metrics"),
        ("/openapi.json", "openapi"),
        ("/plugins", "plugins"),
        ("/docs", "docs"),
        ("/redoc", "redoc"),
        ("/docs/assets/<filename>", "doc_asset"),
    )

    def __init__(self, state: DevstackState) -> None:
        self.state = state
        self._core_cache = state.host.cache_for(CORE_OWNER)
        self._health_key: str | None = None  # computed at the first request, once every plugin is in
        self._root = RootDocument(state, lambda document: COMPACT.encode(document) + "\n")

    def install(self, app: Quart, register: Callable[[str, tuple[str, ...]], None]) -> None:
        """Add every rule (GET only); ``register`` records core as its owner."""
        for rule, endpoint in self.RULES:
            register(rule, ("GET",))
            app.add_url_rule(rule, endpoint, getattr(self, endpoint), methods=["GET"])

    async def root(self) -> Response:
        return Response(self._root.text(), content_type=JSON)

    async def health_simple(self) -> Response:
        return Response(HEALTH_OK, content_type=JSON)

    async def health_live(self) -> Response:
        return Response(HEALTH_ALIVE, content_type=JSON)

    async def health_ready(self) -> Response:
        state = self.state
        if state.shutting_down:
            response = jsonify({"status": "not_ready", "reason": "shutting_down", "failing": []})
            response.status_code = 503
            return response
        failing = state.health.critical_failures(await state.health.run_all_shared())
        response = jsonify(
            {
                "status": "not_ready" if failing else "ready",
                "reason": "critical_check_failing" if failing else None,
                "failing": failing,
            }
        )
        response.status_code = 503 if failing else 200
        return response

    async def health_all(self) -> Response:
        state = self.state
        if self._health_key is None:
            self._health_key = health_all_key(state)
        body, age = await self._core_cache.cached_json(
            self._health_key, state.settings.health_cache_ttl, state.health.run_all_shared
        )
        response = json_response(body)
        response.headers["X-Cache"] = "MISS" if age is None else "HIT"
        response.headers["Age"] = str(int(age or 0))
        return response

    async def metrics(self) -> Response:
        return Response(self.state.metrics.exposition(), content_type=CONTENT_TYPE)

    async def openapi(self) -> Response:
        return jsonify(self.state.contract)

    async def plugins(self) -> Response:
        records = sorted(self.state.registry.records.items())
        return jsonify({"plugins": [record.as_dict() for _, record in records]})

    async def docs(self) -> Response:
        return Response(SWAGGER_PAGE, content_type=HTML)

    async def redoc(self) -> Response:
        return Response(REDOC_PAGE, content_type=HTML)

    async def doc_asset(self, filename: str) -> Response:
        if filename not in DOC_ASSETS:
            raise NotFound("No such documentation asset")
        response = await send_file(DOC_ASSETS_DIR / filename)
        response.cache_control.max_age = 86400
        return response
