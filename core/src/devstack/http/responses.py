"""The answers the pipeline makes itself: error envelopes, the relative redirect, and the
error handlers that turn every exception into the JSON envelope."""

from __future__ import annotations

import logging
import traceback
from urllib.parse import urlsplit

from quart import Quart, Response, g, jsonify
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect

from devstack.foundation.errors import ApiError, InternalServerError, UnsupportedMediaType, error_for_status
from devstack.http.route_table import UNMATCHED

log = logging.getLogger("devstack.request")

ALLOWED_CONTENT_TYPES = frozenset(
    {"application/json", "application/x-www-form-urlencoded", "multipart/form-data", "text/plain"}
)


def error_response(exc: ApiError) -> Response:
    response = jsonify(exc.body(getattr(g, "request_id", "")))
    response.status_code = exc.status_code
    for name, value in exc.headers.items():
        response.headers[name] = value
    return response


def relative_redirect(redirect: RequestRedirect) -> Response:
    """The 308 werkzeug answers for a path that lacks only its final slash, with a
    ``Location`` that is a path: werkzeug's names the host the client sent."""
    parts = urlsplit(redirect.new_url)
    location = "/" + parts.path.lstrip("/") + (f"?{parts.query}" if parts.query else "")
    return Response("", status=308, headers={"Location": location}, content_type="text/plain")


def append_headers(response: Response, items: list[tuple[str, str]]) -> None:
    """Add headers whose values core made itself (no CR/LF possible): straight onto
    werkzeug's header list when it has one, else through ``Headers.extend``."""
    raw = getattr(response.headers, "_list", None)
    if isinstance(raw, list):
        raw.extend(items)
    else:  # pragma: no cover - another Headers implementation
        response.headers.extend(items)


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def unsupported_media_type() -> UnsupportedMediaType:
    return UnsupportedMediaType(
        "Content type must be one of: application/json, application/x-www-form-urlencoded, "
        "multipart/form-data, text/plain"
    )


async def api_error(exc: ApiError) -> Response:
    return error_response(exc)


async def http_error(exc: HTTPException) -> Response:
    response = error_response(error_for_status(exc.code or 500))
    if exc.code == 405 and getattr(exc, "valid_methods", None):
        response.headers["Allow"] = ", ".join(sorted(exc.valid_methods))  # type: ignore[attr-defined]
    return response


def unexpected_error_fields(exc: BaseException) -> dict[str, str]:
    """What an author needs to find the bug: the exception, the file and line that raised
    it and the traceback. Only for the log: the JSON formatter passes every field through
    the secret redactor (URL passwords, ``password=...`` pairs, registered secrets)."""
    frames = traceback.extract_tb(exc.__traceback__)
    fields = {
        "error_type": type(exc).__name__,
        "error": f"{type(exc).__name__}: {exc}",
        "traceback": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
    }
    if frames:
        fields["location"] = f"{frames[-1].filename}:{frames[-1].lineno}"
    return fields


async def unexpected_error(exc: Exception) -> Response:
    # the response says nothing of it (an exception's text may carry data); the log does
    log.error("unhandled error", extra={**unexpected_error_fields(exc), "route": getattr(g, "route", UNMATCHED)})
    return error_response(InternalServerError("An unexpected error occurred"))


def install_error_handlers(app: Quart) -> None:
    """Every error the application raises becomes the JSON envelope."""
    app.register_error_handler(ApiError, api_error)
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(Exception, unexpected_error)
