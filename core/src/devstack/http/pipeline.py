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
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from quart import Quart, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.routing import RequestRedirect

from devstack.contract.nesting import refuse_deep_json
from devstack.contract.validation import OperationValidator
from devstack.foundation.context import set_request_id
from devstack.foundation.errors import (
    ApiError,
    InternalServerError,
    PayloadTooLarge,
    ServiceUnavailable,
    UnsupportedMediaType,
    error_for_status,
)
from devstack.http.admission import KNOWN_METHODS, Admission, bounded, method_label
from devstack.http.apikeys import ApiKeys
from devstack.http.cors import PREFLIGHT_OK, Cors
from devstack.http.ratelimit import RateLimiterService, limit_class
from devstack.observability.logs import FastRecords
from devstack.observability.metrics import CoreMetrics
from devstack.runtime.app import state_of
from devstack.runtime.shutdown import InFlight, install_in_flight
from devstack.runtime.tls import TlsManager

log = logging.getLogger("devstack.request")

REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
UNMATCHED = "unmatched"
ALLOWED_CONTENT_TYPES = frozenset(
    {"application/json", "application/x-www-form-urlencoded", "multipart/form-data", "text/plain"}
)
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
EXTENSION = "devstack.pipeline"


@dataclass
class Pipeline:
    """The production components of one application (``app.extensions["devstack.pipeline"]``)."""

    cors: Cors
    limiter: RateLimiterService
    api_keys: ApiKeys
    in_flight: InFlight
    tls: TlsManager | None = None


class RouteInfo:
    """What the pipeline needs about one (method, route template), computed once."""

    __slots__ = (
        "_method",
        "_requests",
        "_route",
        "_statuses",
        "duration",
        "in_progress",
        "limit_class",
        "owner",
        "validator",
    )

    def __init__(
        self, method: str, route: str, owner: str | None, metrics: CoreMetrics, validator: OperationValidator | None
    ) -> None:
        self.owner = owner
        self.validator = validator
        self.limit_class = limit_class(route)
        self.in_progress = metrics.in_progress.labels(method, route)
        self.duration = metrics.duration.labels(method, route)
        self._requests = metrics.requests
        self._statuses: dict[int, Any] = {}
        self._method, self._route = method, route

    def count(self, status: int) -> None:
        counter = self._statuses.get(status)
        if counter is None:
            counter = self._requests.labels(self._method, self._route, str(status))
            self._statuses[status] = counter
        counter.inc()


class RouteCache:
    """RouteInfo per (method label, route): both come from bounded sets."""

    def __init__(
        self,
        owners: dict[tuple[str, str], str],
        metrics: CoreMetrics,
        validators: dict[tuple[str, str], OperationValidator],
    ) -> None:
        self._owners = owners
        self._validators = validators
        self._metrics = metrics
        self._entries: dict[tuple[str, str], RouteInfo] = {}

    def get(self, method: str, route: str) -> RouteInfo:
        key = (method, route)
        info = self._entries.get(key)
        if info is None:
            operation = ("GET" if method == "HEAD" else method, route)
            validator = self._validators.get(operation) if route != UNMATCHED else None
            info = RouteInfo(method, route, self._owners.get(operation), self._metrics, validator)
            self._entries[key] = info
        return info


def relative_redirect(redirect: RequestRedirect) -> Response:
    """The 308 werkzeug answers for a path that lacks only its final slash, with a
    ``Location`` that is a path: werkzeug's names the host the client sent."""
    parts = urlsplit(redirect.new_url)
    location = "/" + parts.path.lstrip("/") + (f"?{parts.query}" if parts.query else "")
    return Response("", status=308, headers={"Location": location}, content_type="text/plain")


def pipeline_of(app: Quart) -> Pipeline:
    pipeline: Pipeline = app.extensions[EXTENSION]
    return pipeline


def error_response(exc: ApiError) -> Response:
    response = jsonify(exc.body(getattr(g, "request_id", "")))
    response.status_code = exc.status_code
    for name, value in exc.headers.items():
        response.headers[name] = value
    return response


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def append_headers(response: Response, items: list[tuple[str, str]]) -> None:
    """Add headers whose values core made itself (no CR/LF possible): straight onto
    werkzeug's header list when it has one, else through ``Headers.extend``."""
    raw = getattr(response.headers, "_list", None)
    if isinstance(raw, list):
        raw.extend(items)
    else:  # pragma: no cover - another Headers implementation
        response.headers.extend(items)


def unsupported_media_type() -> UnsupportedMediaType:
    return UnsupportedMediaType(
        "Content type must be one of: application/json, application/x-www-form-urlencoded, "
        "multipart/form-data, text/plain"
    )


_ID_PREFIX = secrets.token_hex(8)
_ID_COUNTER = itertools.count(1)


def new_request_id() -> str:
    """32 hex characters: a random per-process prefix and a counter (unique, cheap)."""
    return f"{_ID_PREFIX}{next(_ID_COUNTER) & 0xFFFFFFFFFFFFFFFF:016x}"


def install(app: Quart) -> None:
    state = state_of(app)
    settings = state.settings
    metrics = state.metrics
    max_body = settings.max_body_bytes
    max_depth = settings.max_body_depth
    cors = Cors.from_settings(settings)
    limiter = RateLimiterService(settings, metrics.registry)
    api_keys = ApiKeys(
        [key.get_secret_value() for key in settings.api_keys],
        settings.api_keys_secret,
        settings.api_key_exempt,
        settings.api_keys_refresh,
        state.host.secrets,
    )
    pipeline = Pipeline(cors=cors, limiter=limiter, api_keys=api_keys, in_flight=install_in_flight(app))
    app.extensions[EXTENSION] = pipeline
    limiting = limiter.enabled
    rate_exempt = frozenset(settings.rate_limit_exempt)
    checking_keys = api_keys.enabled
    clients = limiter.clients
    admission = Admission(settings.allowed_hosts, settings.host, clients)
    rule_paths = state.rule_paths
    failed_plugins = state.registry.failed_names
    routes = RouteCache(state.route_owners, metrics, state.validators)
    request_lines = FastRecords(log, "request")

    @app.before_request
    async def begin_request() -> Response | None:
        started = time.perf_counter()
        req = request._get_current_object()  # type: ignore[attr-defined]
        ctx = g._get_current_object()  # type: ignore[attr-defined]
        ctx.started = started
        headers = req.headers
        offered = headers.get("X-Request-ID")
        request_id = offered if offered and REQUEST_ID.fullmatch(offered) else new_request_id()
        ctx.request_id = request_id
        set_request_id(request_id)
        rule = req.url_rule
        route = rule_paths.get(rule.rule, rule.rule) if rule is not None else UNMATCHED
        ctx.route = route
        method = req.method
        info = routes.get(method_label(method), route)
        ctx.route_info = info
        info.in_progress.inc()
        ctx.counted_in_progress = True
        client = req.scope.get("client")
        peer = client[0] if client else "unknown"
        admission.check(method, req.routing_exception, headers, peer)

        if method == "OPTIONS":
            origin = headers.get("Origin")
            wanted = headers.get("Access-Control-Request-Method")
            if origin and wanted:
                ctx.cors_done = True
                preflight = cors.preflight_headers(origin, wanted, headers.get("Access-Control-Request-Headers"))
                return Response(PREFLIGHT_OK, status=200, headers=preflight, content_type="text/plain; charset=utf-8")

        path = req.path
        if limiting and path not in rate_exempt:
            klass = info.limit_class if rule is not None else limit_class(path)
            decision = await limiter.hit(klass, clients.of(peer, headers.get("X-Forwarded-For")))
            if decision is not None:
                if not decision.allowed:
                    raise decision.error()  # carries the X-RateLimit-* headers itself
                ctx.rate_limit_headers = decision.header_list()

        if checking_keys:
            await api_keys.check(path, headers.get("X-API-Key"))
        if info.owner in failed_plugins:  # loaded, then failed at startup
            raise ServiceUnavailable(info.owner, f"plugin {info.owner} is not running", reason="plugin_failed")
        if isinstance(req.routing_exception, RequestRedirect):
            return relative_redirect(req.routing_exception)

        if method in BODY_METHODS:  # other methods' bodies are never read
            declared = req.content_length or "Transfer-Encoding" in headers
            if declared and media_type(req.content_type) not in ALLOWED_CONTENT_TYPES:
                raise unsupported_media_type()
            try:
                raw_body = await req.get_data(cache=True, as_text=False, parse_form_data=False)
            except RequestEntityTooLarge:
                raise PayloadTooLarge(f"Request body exceeds {max_body} bytes") from None
            if raw_body and not declared and media_type(req.content_type) not in ALLOWED_CONTENT_TYPES:
                raise unsupported_media_type()
            parsed_by_core = info.validator is not None and bool(info.validator.body_media_types)
            if raw_body and rule is not None and not parsed_by_core and req.is_json:
                refuse_deep_json(raw_body, max_depth)

        validator = info.validator
        if validator is None or (rule is None):
            return None
        if not validator.parameters and not validator.body_media_types and validator.max_body_bytes is None:
            return None  # nothing to check; devstack.api.validated() gives empty inputs
        ctx.devstack_validated = validator.check_parameters(req.view_args or {}, req.args)
        if validator.body_media_types or validator.max_body_bytes is not None:
            try:
                raw = await req.get_data(cache=True, as_text=False, parse_form_data=False)
            except RequestEntityTooLarge:
                raise PayloadTooLarge(f"Request body exceeds {max_body} bytes") from None
            ctx.devstack_validated.body = validator.check_body(raw, req.content_type or "", max_depth)
        return None

    @app.after_request
    async def finish_request(response: Response) -> Response:
        ctx = g._get_current_object()  # type: ignore[attr-defined]
        req = request._get_current_object()  # type: ignore[attr-defined]
        values = ctx.__dict__
        started = values.get("started")
        elapsed = time.perf_counter() - started if started is not None else 0.0
        route = values.get("route", UNMATCHED)
        request_id = values.get("request_id") or new_request_id()
        method = req.method
        extra: list[tuple[str, str]] = [
            ("X-Request-ID", request_id),
            ("X-Response-Time", f"{elapsed * 1000:.2f}ms"),
        ]
        rate_headers = values.get("rate_limit_headers")
        if rate_headers is not None:
            extra += rate_headers
        origin = req.headers.get("Origin")
        if origin and not values.get("cors_done"):
            extra += cors.response_headers(origin)
        append_headers(response, extra)
        info = values.get("route_info") or routes.get(method_label(method), route)
        if values.get("counted_in_progress"):
            info.in_progress.dec()
            ctx.counted_in_progress = False
        status = response.status_code
        info.count(status)
        info.duration.observe(elapsed)
        if request_lines.enabled():
            fields: dict[str, Any] = {
                "request_id": request_id,
                "method": method if method in KNOWN_METHODS else bounded(method),
                "route": route,
                "status": status,
                "duration_ms": round(elapsed * 1000, 2),
            }
            if info.owner is not None:
                fields["plugin"] = info.owner
            request_lines.emit(fields)
        return response

    @app.while_serving
    async def production_lifecycle() -> Any:
        """After the plugins' startup: API keys from the secrets provider, the TLS
        certificate; before their shutdown: stop renewing, close the limiter storage."""
        if api_keys.secret_name:
            await api_keys.load()
        if settings.tls_enabled:
            pipeline.tls = TlsManager(settings, state.registry, state.host)
            await pipeline.tls.start()
        yield
        if pipeline.tls is not None:
            await pipeline.tls.stop()
        await limiter.close()

    @app.errorhandler(ApiError)
    async def api_error(exc: ApiError) -> Response:
        return error_response(exc)

    @app.errorhandler(HTTPException)
    async def http_error(exc: HTTPException) -> Response:
        error = error_for_status(exc.code or 500)
        response = error_response(error)
        if exc.code == 405 and getattr(exc, "valid_methods", None):
            response.headers["Allow"] = ", ".join(sorted(exc.valid_methods))  # type: ignore[attr-defined]
        return response

    @app.errorhandler(Exception)
    async def unexpected_error(exc: Exception) -> Response:
        log.error("unhandled error", extra={"error_type": type(exc).__name__, "route": getattr(g, "route", UNMATCHED)})
        return error_response(InternalServerError("An unexpected error occurred"))
