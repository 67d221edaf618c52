"""CORS as the reference API answers it.

Origins, methods, allowed request headers and exposed response headers come from the
``DEVSTACK_CORS_*`` settings, whose defaults are the reference's; credentials are
allowed and preflights cached 600 s.

- A response to a request with an ``Origin`` carries ``Access-Control-Allow-Origin``
  (the origin itself) only when the origin is allowed, then also
  ``Access-Control-Allow-Credentials`` and ``Access-Control-Expose-Headers``; ``Vary:
  Origin`` always, so that a shared cache keeps the two answers apart.
- Preflights (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``) are
  answered by core for every path before routing, rate limits and API keys: 200 with
  body ``OK`` when the origin, the method and every requested header are allowed;
  otherwise 400 (the error envelope, its message the reference's "Disallowed CORS
  origin" / "... method" / "... headers"). Both carry the fixed Allow-Methods,
  Allow-Headers, Max-Age and Allow-Credentials headers; Allow-Origin only for an
  allowed origin.
"""

from __future__ import annotations

from typing import Any

from devstack.foundation.errors import BadRequest
from devstack.foundation.settings import (
    DEFAULT_EXPOSED_HEADERS,
    DEFAULT_HEADERS,
    DEFAULT_METHODS,
)

# what the Fetch standard lets a page send without asking: always allowed, as in the reference
SAFELISTED_HEADERS = ("Accept", "Accept-Language", "Content-Language", "Content-Type")
MAX_AGE = 600
PREFLIGHT_OK = "OK"
VARY_ONLY = (("Vary", "Origin"),)
ORIGIN_CACHE_SIZE = 256


class Cors:
    """The CORS policy of one application."""

    def __init__(
        self,
        origins: list[str],
        methods: list[str] | None = None,
        headers: list[str] | None = None,
        exposed: list[str] | None = None,
    ) -> None:
        self.origin_list = [origin.rstrip("/") for origin in origins]
        self.origins = frozenset(self.origin_list)
        self.any_origin = "*" in self.origins
        self.method_list = [method.upper() for method in (DEFAULT_METHODS if methods is None else methods)]
        self.any_method = "*" in self.method_list
        self.methods = frozenset(self.method_list)
        wanted = list(DEFAULT_HEADERS if headers is None else headers)
        self.any_header = "*" in wanted
        self.header_list = unique_sorted([*SAFELISTED_HEADERS, *(h for h in wanted if h != "*")])
        self._allowed_headers = frozenset(header.lower() for header in self.header_list)
        self.exposed_list = list(DEFAULT_EXPOSED_HEADERS if exposed is None else exposed)
        self._allow_methods = ", ".join(self.method_list)
        self._allow_headers = ", ".join(self.header_list)
        self._expose = ", ".join(self.exposed_list)
        self._max_age = str(MAX_AGE)
        # the headers of an actual response, per allowed origin (a bounded set: the
        # settings' origins, or whatever origins "*" has met, up to ORIGIN_CACHE_SIZE)
        self._answers: dict[str, tuple[tuple[str, str], ...]] = {}

    @classmethod
    def from_settings(cls, settings: Any) -> Cors:
        return cls(settings.cors_origins, settings.cors_methods, settings.cors_headers, settings.cors_expose_headers)

    def allowed(self, origin: str) -> bool:
        return self.any_origin or origin in self.origins

    def response_headers(self, origin: str) -> tuple[tuple[str, str], ...]:
        """Headers for an actual (non-preflight) response to ``origin``."""
        known = self._answers.get(origin)
        if known is not None:
            return known
        if not self.allowed(origin):
            return VARY_ONLY
        headers = [("Access-Control-Allow-Origin", origin), ("Access-Control-Allow-Credentials", "true")]
        if self._expose:
            headers.append(("Access-Control-Expose-Headers", self._expose))
        headers.append(("Vary", "Origin"))
        answer = tuple(headers)
        if len(self._answers) < ORIGIN_CACHE_SIZE:
            self._answers[origin] = answer
        return answer

    def refusals(self, origin: str, method: str, request_headers: str | None) -> list[str]:
        """What a preflight asks for that is not allowed: origin, method, headers."""
        failures = []
        if not self.allowed(origin):
            failures.append("origin")
        if not self.any_method and method.upper() not in self.methods:
            failures.append("method")
        if request_headers and not self.any_header:
            asked = (name.strip().lower() for name in request_headers.split(","))
            if any(name and name not in self._allowed_headers for name in asked):
                failures.append("headers")
        return failures

    def preflight_headers(self, origin: str, method: str, request_headers: str | None) -> dict[str, str]:
        """Headers of the answer to a preflight; raises 400 (with them) when it is refused."""
        headers = {
            "Access-Control-Allow-Methods": self._allow_methods,
            "Access-Control-Max-Age": self._max_age,
            "Access-Control-Allow-Credentials": "true",
            "Vary": "Origin",
        }
        if self.any_header and request_headers:
            headers["Access-Control-Allow-Headers"] = request_headers
        elif self._allow_headers:
            headers["Access-Control-Allow-Headers"] = self._allow_headers
        if self.allowed(origin):
            headers["Access-Control-Allow-Origin"] = origin
        failures = self.refusals(origin, method, request_headers)
        if failures:
            raise BadRequest("Disallowed CORS " + ", ".join(failures), headers=headers)
        return headers

    def describe(self) -> dict[str, Any]:
        """The ``security.cors`` section of ``GET /`` (lists as one string, as the reference)."""
        return {
            "enabled": True,
            "allowed_origins": ", ".join(self.origin_list),
            "allowed_methods": self._allow_methods,
            "credentials": True,
            "max_age": f"{MAX_AGE}s",
            "allowed_headers": "*" if self.any_header else self._allow_headers,
            "exposed_headers": self._expose,
        }


def unique_sorted(names: list[str]) -> list[str]:
    """Header names sorted, each once whatever its case (the first spelling is kept)."""
    seen: dict[str, str] = {}
    for name in names:
        seen.setdefault(name.lower(), name)
    return sorted(seen.values())
