"""The request pipeline, the same for every route of core and of every plugin.

Before the handler, in this order:

1. request id (a valid client ``X-Request-ID`` of at most 128 safe characters is kept,
   otherwise one is generated) and the route template;
   a method outside GET HEAD POST PUT PATCH DELETE OPTIONS is refused here (405), and a
   Host that is not served (``devstack.http.admission``) too (400), before any metric label, log
   field or limit is made from them;
2. CORS preflights (``OPTIONS`` + ``Origin`` + ``Access-Control-Request-Method``) are
   answered here, for every path (200 ``OK``, or 400);
3. rate limit of the request's class for the client address (429);
4. API key, when enabled (401); a path that lacks only its final slash (``/health``) is
   redirected (308) to it with a relative ``Location``;
5. request body (POST, PUT, PATCH; other methods' bodies are never read): a content
   type other than JSON, form, multipart or text/plain is refused (415); the body is read
   with the size limit enforced while reading, so that a chunked body without
   Content-Length is cut off too (413);
6. validation of path, query and JSON body against the contract (422); a JSON body
   nested deeper than ``DEVSTACK_MAX_BODY_DEPTH`` is refused (422) for every operation,
   also those without a body schema.

After it: ``X-Request-ID``, ``X-Response-Time``, the ``X-RateLimit-*`` headers, the CORS
headers, metrics and one JSON log line (request_id, method, route, status,
duration_ms, plugin). Metric labels come from bounded sets only (the methods above or
``OTHER``, route templates or ``unmatched``, statuses); a log field taken from the
request is at most ``MAX_LOG_FIELD`` characters.
"""

from __future__ import annotations

import itertools
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry
from quart import Quart, Response, g, request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.routing import RequestRedirect

from devstack.contract.nesting import refuse_deep_json
from devstack.foundation.context import set_request_id
from devstack.foundation.errors import PayloadTooLarge, ServiceUnavailable
from devstack.foundation.settings import CoreSettings
from devstack.http.admission import KNOWN_METHODS, Admission, bounded, method_label
from devstack.http.apikeys import ApiKeys
from devstack.http.cors import PREFLIGHT_OK, Cors
from devstack.http.ratelimit import RateLimiterService, limit_class
from devstack.http.responses import (
    ALLOWED_CONTENT_TYPES,
    append_headers,
    install_error_handlers,
    media_type,
    relative_redirect,
    unsupported_media_type,
)
from devstack.http.route_table import UNMATCHED, RouteInfo, RouteTable
from devstack.observability.logs import FastRecords

log = logging.getLogger("devstack.request")

REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
EXTENSION = "devstack.pipeline"

SecretsLookup = Callable[[str], Awaitable[dict[str, str] | None]]

_ID_PREFIX = secrets.token_hex(8)
_ID_COUNTER = itertools.count(1)


def new_request_id() -> str:
    """32 hex characters: a random per-process prefix and a counter (unique, cheap)."""
    return f"{_ID_PREFIX}{next(_ID_COUNTER) & 0xFFFFFFFFFFFFFFFF:016x}"


@dataclass
class Guards:
    """The pipeline's components that depend on settings only: made before any route,
    so that core's routes can describe them and the lifecycle can start and close them."""

    cors: Cors
    limiter: RateLimiterService
    api_keys: ApiKeys
    admission: Admission

    @classmethod
    def from_settings(cls, settings: CoreSettings, registry: CollectorRegistry, secrets: SecretsLookup) -> Guards:
        limiter = RateLimiterService(settings, registry)
        api_keys = ApiKeys(
            [key.get_secret_value() for key in settings.api_keys],
            settings.api_keys_secret,
            settings.api_key_exempt,
            settings.api_keys_refresh,
            secrets,
        )
        admission = Admission(settings.allowed_hosts, settings.host, limiter.clients)
        return cls(Cors.from_settings(settings), limiter, api_keys, admission)


class RequestPipeline:
    """The steps above, one method each, over a frozen route table.

    ``begin`` runs as Quart's first ``before_request`` and ``finish`` as its
    ``after_request``; each step either passes, answers (a preflight, a redirect) or
    raises an ``ApiError`` that the error handlers turn into the envelope.
    """

    def __init__(
        self, settings: CoreSettings, guards: Guards, routes: RouteTable, failed_plugins: Collection[str]
    ) -> None:
        self.guards = guards
        self.cors = guards.cors
        self.limiter = guards.limiter
        self.api_keys = guards.api_keys
        self.routes = routes
        self._admission = guards.admission
        self._failed_plugins = failed_plugins  # the registry's live set: plugins that fail at startup
        self._max_body = settings.max_body_bytes
        self._max_depth = settings.max_body_depth
        self._limiting = self.limiter.enabled
        self._rate_exempt = frozenset(settings.rate_limit_exempt)
        self._checking_keys = self.api_keys.enabled
        self._lines = FastRecords(log, "request")

    def install(self, app: Quart) -> None:
        app.extensions[EXTENSION] = self
        app.before_request(self.begin)
        app.after_request(self.finish)
        install_error_handlers(app)

    # before the handler -----------------------------------------------------------------
    async def begin(self) -> Response | None:
        req = request._get_current_object()  # type: ignore[attr-defined]
        values = g._get_current_object().__dict__  # type: ignore[attr-defined]
        values["devstack_headers"] = headers = own_headers(req.scope)
        info = self.identify(req, values, headers)
        client = req.scope.get("client")
        peer = client[0] if client else "unknown"
        self._admission.check(req.method, req.routing_exception, req.headers, peer)
        if req.method == "OPTIONS":
            preflight = self.preflight(req, values, headers)
            if preflight is not None:
                return preflight
        if self._limiting and req.path not in self._rate_exempt:
            await self.limit(req, values, info, peer)
        if self._checking_keys:
            await self.api_keys.check(req.path, headers.get(b"x-api-key"))
        owner = info.owner
        if owner is not None and owner in self._failed_plugins:  # loaded, then failed at startup
            raise ServiceUnavailable(owner, f"plugin {owner} is not running", reason="plugin_failed")
        if isinstance(req.routing_exception, RequestRedirect):
            return relative_redirect(req.routing_exception)
        if req.method in BODY_METHODS:  # other methods' bodies are never read
            await self.read_body(req, info)
        if info.validator is not None and req.url_rule is not None:
            await self.validate(req, values, info)
        return None

    def identify(self, req: Any, values: dict[str, Any], headers: dict[bytes, str]) -> RouteInfo:
        """Request id, route template and the in-progress gauge."""
        values["started"] = time.perf_counter()
        offered = headers.get(b"x-request-id")
        request_id = offered if offered and REQUEST_ID.fullmatch(offered) else new_request_id()
        values["request_id"] = request_id
        set_request_id(request_id)
        rule = req.url_rule
        route = self.routes.route_of(rule.rule if rule is not None else None)
        values["route"] = route
        info = self.routes.info(method_label(req.method), route)
        values["route_info"] = info
        info.in_progress_inc()
        values["counted_in_progress"] = True
        return info

    def preflight(self, req: Any, values: dict[str, Any], headers: dict[bytes, str]) -> Response | None:
        """The answer to a CORS preflight, for every path; None for another OPTIONS."""
        origin = headers.get(b"origin")
        wanted = req.headers.get("Access-Control-Request-Method")
        if not (origin and wanted):
            return None
        values["cors_done"] = True
        answer = self.cors.preflight_headers(origin, wanted, req.headers.get("Access-Control-Request-Headers"))
        return Response(PREFLIGHT_OK, status=200, headers=answer, content_type="text/plain; charset=utf-8")

    async def limit(self, req: Any, values: dict[str, Any], info: RouteInfo, peer: str) -> None:
        """Count the request in its class for its client; 429 over the limit."""
        klass = info.limit_class if req.url_rule is not None else limit_class(req.path)
        clients = self.limiter.clients
        client = clients.of(peer, req.headers.get("X-Forwarded-For")) if clients.networks else peer
        decision = await self.limiter.hit(klass, client)
        if decision is None:
            return  # the storage failed: let through without headers
        if not decision.allowed:
            raise decision.error()  # carries the X-RateLimit-* headers itself
        values["rate_limit_headers"] = decision.header_list()

    async def read_body(self, req: Any, info: RouteInfo) -> None:
        """Content type (415), size while reading (413), nesting depth of JSON (422)."""
        declared = req.content_length or "Transfer-Encoding" in req.headers
        if declared and media_type(req.content_type) not in ALLOWED_CONTENT_TYPES:
            raise unsupported_media_type()
        raw_body = await self.body(req)
        if raw_body and not declared and media_type(req.content_type) not in ALLOWED_CONTENT_TYPES:
            raise unsupported_media_type()
        parsed_by_core = info.validator is not None and bool(info.validator.body_media_types)
        if raw_body and req.url_rule is not None and not parsed_by_core and req.is_json:
            refuse_deep_json(raw_body, self._max_depth)

    async def body(self, req: Any) -> bytes:
        try:
            data: bytes = await req.get_data(cache=True, as_text=False, parse_form_data=False)
        except RequestEntityTooLarge:
            raise PayloadTooLarge(f"Request body exceeds {self._max_body} bytes") from None
        return data

    async def validate(self, req: Any, values: dict[str, Any], info: RouteInfo) -> None:
        """Path, query and body against the operation (422); ``devstack.api.validated()``."""
        validator = info.validator
        assert validator is not None
        checks_body = bool(validator.body_media_types) or validator.max_body_bytes is not None
        if not validator.parameters and not checks_body:
            return  # nothing to check; devstack.api.validated() gives empty inputs
        inputs = values["devstack_validated"] = validator.check_parameters(req.view_args or {}, req.args)
        if checks_body:
            raw = await self.body(req)
            inputs.body = validator.check_body(raw, req.content_type or "", self._max_depth)

    # after the handler ------------------------------------------------------------------
    async def finish(self, response: Response) -> Response:
        req = request._get_current_object()  # type: ignore[attr-defined]
        values = g._get_current_object().__dict__  # type: ignore[attr-defined]
        started = values.get("started")
        elapsed = time.perf_counter() - started if started is not None else 0.0
        request_id = values.get("request_id") or new_request_id()
        self.add_headers(response, req, values, request_id, elapsed)
        route = values.get("route", UNMATCHED)
        info = values.get("route_info") or self.routes.info(method_label(req.method), route)
        if values.get("counted_in_progress"):
            info.in_progress_dec()
            values["counted_in_progress"] = False
        info.count(response.status_code)
        info.duration.observe(elapsed)
        if self._lines.enabled():
            self.log_line(req.method, route, request_id, response.status_code, elapsed, info.owner)
        return response

    def add_headers(
        self, response: Response, req: Any, values: dict[str, Any], request_id: str, elapsed: float
    ) -> None:
        extra: list[tuple[str, str]] = [
            ("X-Request-ID", request_id),
            ("X-Response-Time", f"{elapsed * 1000:.2f}ms"),
        ]
        rate_headers = values.get("rate_limit_headers")
        if rate_headers is not None:
            extra += rate_headers
        headers = values.get("devstack_headers")
        origin = headers.get(b"origin") if headers is not None else req.headers.get("Origin")
        if origin and not values.get("cors_done"):
            extra += self.cors.response_headers(origin)
        append_headers(response, extra)

    def log_line(
        self, method: str, route: str, request_id: str, status: int, elapsed: float, owner: str | None
    ) -> None:
        fields: dict[str, Any] = {
            "request_id": request_id,
            "method": method if method in KNOWN_METHODS else bounded(method),
            "route": route,
            "status": status,
            "duration_ms": round(elapsed * 1000, 2),
        }
        if owner is not None:
            fields["plugin"] = owner
        self._lines.emit(fields)


OWN_HEADERS = frozenset({b"x-request-id", b"origin", b"x-api-key"})


def own_headers(scope: Any) -> dict[bytes, str]:
    """The headers the pipeline reads on every request, in one pass over the ASGI list
    (names are lower case there): werkzeug's ``headers.get`` raises and catches an
    exception for each absent one. The first of repeated headers counts, as in werkzeug."""
    found: dict[bytes, str] = {}
    for name, value in scope.get("headers", ()):
        if name in OWN_HEADERS and name not in found:
            found[name] = value.decode("latin-1")
    return found


def pipeline_of(app: Quart) -> RequestPipeline:
    pipeline: RequestPipeline = app.extensions[EXTENSION]
    return pipeline
