"""CORS as the reference configures it.

Origins come from ``DEVSTACK_CORS_ORIGINS``; methods GET POST PUT DELETE PATCH OPTIONS;
credentials allowed; preflights cached 600 s; ``X-Request-ID`` and the
``X-RateLimit-*`` headers exposed to scripts. A request from an origin that is not in
the list gets no ``Access-Control-Allow-Origin`` (the browser then hides the answer).

Preflights (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``) are
answered by core for every path before routing, rate limits and API keys: 204 with the
CORS headers for an allowed origin and method, 400 envelope without them otherwise.
"""

from __future__ import annotations

from devstack.errors import BadRequest

ALLOWED_METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")
EXPOSED_HEADERS = ("X-Request-ID", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")
MAX_AGE = 600


class Cors:
    """The CORS policy of one application."""

    def __init__(self, origins: list[str]) -> None:
        self.origins = frozenset(origin.rstrip("/") for origin in origins)
        self.any_origin = "*" in self.origins
        self.methods = frozenset(ALLOWED_METHODS)
        self._allow_methods = ", ".join(ALLOWED_METHODS)
        self._expose = ", ".join(EXPOSED_HEADERS)
        self._max_age = str(MAX_AGE)

    def allowed(self, origin: str) -> bool:
        return self.any_origin or origin in self.origins

    def response_headers(self, origin: str) -> list[tuple[str, str]]:
        """Headers for an actual (non-preflight) response to ``origin``."""
        if not self.allowed(origin):
            return [("Vary", "Origin")]
        return [
            ("Access-Control-Allow-Origin", origin),
            ("Access-Control-Allow-Credentials", "true"),
            ("Access-Control-Expose-Headers", self._expose),
            ("Vary", "Origin"),
        ]

    def preflight_headers(self, origin: str, method: str, request_headers: str | None) -> dict[str, str]:
        """Headers of the answer to a preflight; raises 400 when it is refused."""
        if not self.allowed(origin):
            raise BadRequest("Disallowed CORS origin", headers={"Vary": "Origin"})
        if method.upper() not in self.methods:
            raise BadRequest("Disallowed CORS method", headers={"Vary": "Origin"})
        headers = {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Credentials": "true",
            "Access-Control-Allow-Methods": self._allow_methods,
            "Access-Control-Max-Age": self._max_age,
            "Vary": "Origin",
        }
        if request_headers:
            headers["Access-Control-Allow-Headers"] = request_headers
        return headers
