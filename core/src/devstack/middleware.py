"""The request pipeline: request id, validation against the contract, error envelope,
response headers, metrics and the per-request log line."""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from quart import Quart, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from devstack.app import state_of
from devstack.context import set_request_id
from devstack.errors import ApiError, InternalServerError, PayloadTooLarge, error_for_status

log = logging.getLogger("devstack.request")

REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
UNMATCHED = "unmatched"


def error_response(exc: ApiError) -> Response:
    response = jsonify(exc.body(getattr(g, "request_id", "")))
    response.status_code = exc.status_code
    for name, value in exc.headers.items():
        response.headers[name] = value
    return response


def install(app: Quart) -> None:
    state = state_of(app)
    metrics = state.metrics

    @app.before_request
    async def begin_request() -> None:
        g.started = time.perf_counter()
        offered = request.headers.get("X-Request-ID", "")
        g.request_id = offered if REQUEST_ID.fullmatch(offered) else uuid.uuid4().hex
        set_request_id(g.request_id)
        rule = request.url_rule
        g.route = state.rule_paths.get(rule.rule, rule.rule) if rule is not None else UNMATCHED
        metrics.in_progress.labels(request.method, g.route).inc()
        g.counted_in_progress = True
        if rule is None:
            return
        method = "GET" if request.method == "HEAD" else request.method
        validator = state.validators.get((method, g.route))
        if validator is None:
            return
        g.devstack_validated = validator.check_parameters(request.view_args or {}, request.args)
        if validator.body_media_types or validator.max_body_bytes is not None:
            try:
                raw = await request.get_data(cache=True)
            except RequestEntityTooLarge:
                raise PayloadTooLarge(f"Request body exceeds {state.settings.max_body_bytes} bytes") from None
            g.devstack_validated.body = validator.check_body(raw, request.content_type or "")

    @app.after_request
    async def finish_request(response: Response) -> Response:
        started = getattr(g, "started", None)
        elapsed = time.perf_counter() - started if started is not None else 0.0
        route = getattr(g, "route", UNMATCHED)
        request_id = getattr(g, "request_id", None) or uuid.uuid4().hex
        response.headers["X-Request-ID"] = request_id
        response.headers["X-Response-Time"] = f"{elapsed * 1000:.2f}ms"
        if getattr(g, "counted_in_progress", False):
            metrics.in_progress.labels(request.method, route).dec()
            g.counted_in_progress = False
        metrics.requests.labels(request.method, route, str(response.status_code)).inc()
        metrics.duration.labels(request.method, route).observe(elapsed)
        fields: dict[str, Any] = {
            "request_id": request_id,
            "method": request.method,
            "route": route,
            "status": response.status_code,
            "duration_ms": round(elapsed * 1000, 2),
        }
        owner = state.route_owners.get(("GET" if request.method == "HEAD" else request.method, route))
        if owner is not None:
            fields["plugin"] = owner
        log.info("request", extra=fields)
        return response

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
