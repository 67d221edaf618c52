"""Error answers: exceptions a handler raises and the JSON envelope they become.

The envelope has exactly ``error``, ``message``, ``status_code`` and ``request_id``;
422 adds ``details.validation_errors`` (pydantic-style items), 503 adds ``details.service`` and
``retry_suggestion``. Messages are fixed sentences written here or by a plugin, never an
exception's text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class ApiError(Exception):
    """An answer with an error status, rendered as the JSON envelope."""

    status_code: int = 500
    error: str = "InternalServerError"

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        error: str | None = None,
        details: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if status_code is not None:
            self.status_code = status_code
        if error is not None:
            self.error = error
        self.details = dict(details) if details is not None else None
        self.headers = dict(headers) if headers is not None else {}

    def body(self, request_id: str) -> dict[str, Any]:
        """The envelope for this error."""
        payload: dict[str, Any] = {
            "error": self.error,
            "message": self.message,
            "status_code": self.status_code,
            "request_id": request_id,
        }
        if self.details is not None:
            payload["details"] = self.details
        return payload


class BadRequest(ApiError):
    status_code = 400
    error = "BadRequestError"


class Unauthorized(ApiError):
    status_code = 401
    error = "AuthenticationError"


class NotFound(ApiError):
    status_code = 404
    error = "ResourceNotFoundError"


class MethodNotAllowed(ApiError):
    status_code = 405
    error = "MethodNotAllowedError"


class PayloadTooLarge(ApiError):
    status_code = 413
    error = "PayloadTooLargeError"


class UnsupportedMediaType(ApiError):
    status_code = 415
    error = "UnsupportedMediaTypeError"


class TooManyRequests(ApiError):
    status_code = 429
    error = "RateLimitError"


MAX_INPUT_CHARACTERS = 2000
MAX_INPUT_DEPTH = 16


def echoed(value: Any, budget: list[int] | None = None, depth: int = 0) -> Any:
    """What a 422 item shows as its ``input``: the client's value, of the same JSON type,
    cut to about MAX_INPUT_CHARACTERS (long texts shortened, the first items of large or
    deep arrays and objects), so that an error answer stays small."""
    left = budget if budget is not None else [MAX_INPUT_CHARACTERS]
    if isinstance(value, str):
        kept = value[: max(left[0], 0)]
        left[0] -= len(kept) + 2
        return kept if len(kept) == len(value) else kept + "..."
    if isinstance(value, dict):
        shown: dict[str, Any] = {}
        for key, item in value.items():
            if left[0] <= 0 or depth >= MAX_INPUT_DEPTH:
                break
            left[0] -= 1
            name = echoed(str(key), left)  # before the value: it takes what is left
            shown[name] = echoed(item, left, depth + 1)
        return shown
    if isinstance(value, list):
        items: list[Any] = []
        for item in value:
            if left[0] <= 0 or depth >= MAX_INPUT_DEPTH:
                break
            left[0] -= 1
            items.append(echoed(item, left, depth + 1))
        return items
    left[0] -= 8
    return value


class ValidationFailed(ApiError):
    """422 with the list of what was wrong, each ``{"type", "loc", "msg", "input"}`` and
    ``ctx`` when the rule has one (see devstack.contract.validation_items); an item given without
    ``input`` gets null."""

    status_code = 422
    error = "ValidationError"

    def __init__(self, errors: Sequence[Mapping[str, Any]], message: str = "Request validation failed") -> None:
        items = [{**e, "input": echoed(e.get("input"))} for e in errors]
        super().__init__(message, details={"validation_errors": items})
        self.errors = items


def invalid(
    location: Sequence[str | int], message: str, kind: str = "value_error", value: Any = None
) -> ValidationFailed:
    """A 422 about one field: ``raise invalid(["body", "key"], "...", value=key)``."""
    return ValidationFailed([{"type": kind, "loc": list(location), "msg": message, "input": value}])


class ServiceUnavailable(ApiError):
    """503: a backend is down, timed out, or its circuit breaker is open."""

    status_code = 503
    error = "ServiceUnavailableError"

    def __init__(
        self,
        service: str,
        message: str | None = None,
        *,
        retry_after: float | None = None,
        reason: str = "unavailable",
    ) -> None:
        details: dict[str, Any] = {"service": service, "reason": reason}
        headers: dict[str, str] = {}
        if retry_after is not None:
            details["retry_after_seconds"] = round(retry_after, 1)
            headers["Retry-After"] = str(max(1, int(retry_after + 0.999)))
        super().__init__(message or f"{service} is unavailable", details=details, headers=headers)
        self.service = service
        self.retry_suggestion = (
            f"Retry after {max(1, int(retry_after + 0.999))} seconds"
            if retry_after is not None
            else "Retry the request later; check GET /health/all for the service's state"
        )

    def body(self, request_id: str) -> dict[str, Any]:
        payload = super().body(request_id)
        payload["retry_suggestion"] = self.retry_suggestion
        return payload


class InternalServerError(ApiError):
    status_code = 500
    error = "InternalServerError"


STATUS_ERRORS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    404: NotFound,
    405: MethodNotAllowed,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    429: TooManyRequests,
    500: InternalServerError,
}

STATUS_MESSAGES: dict[int, str] = {
    400: "The request could not be understood",
    401: "Authentication required",
    404: "The requested resource was not found",
    405: "Method not allowed for this resource",
    413: "Request body too large",
    415: "Unsupported content type",
    429: "Rate limit exceeded",
    500: "An unexpected error occurred",
}


def error_for_status(status: int, message: str | None = None) -> ApiError:
    """The ApiError a bare HTTP status (404 from routing, 405, ...) becomes."""
    cls = STATUS_ERRORS.get(status)
    text = message or STATUS_MESSAGES.get(status, "Request failed")
    if cls is None:
        return ApiError(text, status_code=status, error="HTTPException")
    return cls(text)
