"""What a request must be before anything is made from it: a known method, a served Host.

A method outside ``KNOWN_METHODS`` is answered 405 before any metric label or log field
is made from it (its metrics label is ``OTHER``; a log field of the request's own text is
cut to ``MAX_LOG_FIELD`` characters), so that no client can grow ``/metrics`` or the logs.

The Host check: requests must name a host this server is meant to be reached by.
Without it a web page can read the API through DNS rebinding (a name the attacker
controls, resolved to 127.0.0.1) while API keys are off, the default. Served names are
``DEVSTACK_ALLOWED_HOSTS`` (default ``localhost``, ``127.0.0.1``, ``::1``) and the bound
address ``DEVSTACK_HOST`` (unless it is a wildcard such as ``0.0.0.0``), on any port;
``.example.com`` serves that name and its subdomains; ``ip`` serves any IP address
literal (DNS rebinding needs a name: a page that reaches the server by an address it
names itself is no rebinding; orchestrators' probes and scrapers send the pod's address);
``*`` serves any name.

A request without a Host (HTTP/1.0 health checkers; HTTP/1.1 requires one and the HTTP
server refuses a request without it) is served: browsers always send one. Behind a proxy
in ``DEVSTACK_TRUSTED_PROXIES``, ``X-Forwarded-Host`` is the name the client used: every
name in it must be served (the proxy's own ``Host`` is not checked). From any other peer
``X-Forwarded-Host`` is ignored.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from werkzeug.exceptions import MethodNotAllowed as RoutingMethodNotAllowed

from devstack.foundation.errors import BadRequest, MethodNotAllowed
from devstack.http.ratelimit import ClientAddress

KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "OTHER"  # the metrics label of every other method
MAX_LOG_FIELD = 64  # characters of a request's own text (its method) in a log field
NAME = re.compile(r"[a-z0-9._:-]+")
WILDCARD_BINDS = frozenset({"", "0.0.0.0", "::", "[::]"})
ACCEPTED_CACHE_SIZE = 256


def host_name(value: str) -> str | None:
    """The name of a ``host[:port]`` value, lowercase, without brackets, port or final
    dot (``[::1]:8001`` → ``::1``, ``Example.COM.`` → ``example.com``); None when the
    value is not of that form."""
    text = value.strip().lower()
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            return None
        name, rest = text[1:end], text[end + 1 :]
    elif text.count(":") > 1:
        name, rest = text, ""  # a bare IPv6 address
    else:
        name, colon, port = text.partition(":")
        rest = colon + port
    if rest and not (rest[0] == ":" and (rest[1:].isdigit() or rest == ":")):
        return None
    name = name.rstrip(".")
    return name if NAME.fullmatch(name) else None


def is_ip_literal(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class AllowedHosts:
    """Whether a Host (or X-Forwarded-Host) value names a served host."""

    def __init__(self, names: list[str], bound_address: str) -> None:
        self.any = "*" in names
        self.ip_literals = "ip" in names  # any IP address literal (see the module docstring)
        self.exact: set[str] = set()
        self.domains: set[str] = set()  # ".example.com": example.com and its subdomains
        for entry in names:
            name = host_name(entry.lstrip("."))
            if name is None:
                continue
            (self.domains if entry.startswith(".") else self.exact).add(name)
        if bound_address.strip().lower() not in WILDCARD_BINDS:
            bound = host_name(bound_address)
            if bound is not None:
                self.exact.add(bound)
        self._accepted: set[str] = set()  # header values already found served

    def serves(self, value: str | None) -> bool:
        if self.any or not value or value in self._accepted:
            return True
        name = host_name(value)
        served = name is not None and (
            name in self.exact
            or any(name == domain or name.endswith("." + domain) for domain in self.domains)
            or (self.ip_literals and is_ip_literal(name))
        )
        if served and len(self._accepted) < ACCEPTED_CACHE_SIZE:
            self._accepted.add(value)
        return served

    def serves_forwarded(self, forwarded_host: str) -> bool:
        """Every name of an ``X-Forwarded-Host`` list (one per proxy hop) is served."""
        return all(self.serves(name.strip() or "-") for name in forwarded_host.split(","))


def method_label(method: str) -> str:
    return method if method in KNOWN_METHODS else OTHER_METHOD


def bounded(text: str, limit: int = MAX_LOG_FIELD) -> str:
    """``text`` cut to ``limit`` characters (the last three ``...``) for a log field."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def unknown_method(routing_exception: Exception | None) -> MethodNotAllowed:
    """405 for a method outside KNOWN_METHODS, with the path's methods in ``Allow``
    (empty for a path no route serves)."""
    valid = getattr(routing_exception, "valid_methods", None)
    allowed = sorted(valid) if isinstance(routing_exception, RoutingMethodNotAllowed) and valid else []
    return MethodNotAllowed(
        "Unknown HTTP method; use one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS",
        headers={"Allow": ", ".join(allowed)},
    )


class Admission:
    """The method and Host checks of the pipeline (its first step)."""

    def __init__(self, allowed_hosts: list[str], bound_address: str, clients: ClientAddress) -> None:
        self.hosts = AllowedHosts(allowed_hosts, bound_address)
        self.clients = clients
        self.proxies_trusted = bool(clients.networks)

    def check(self, method: str, routing_exception: Exception | None, headers: Any, peer: str) -> None:
        """Raise 405 for an unknown method, 400 for a Host that is not served."""
        if method not in KNOWN_METHODS:
            raise unknown_method(routing_exception)
        forwarded = headers.get("X-Forwarded-Host") if self.proxies_trusted else None
        if forwarded is not None and self.clients.trusted(peer):
            served = self.hosts.serves_forwarded(forwarded)
        else:
            served = self.hosts.serves(headers.get("Host"))
        if not served:
            raise BadRequest("The Host header names a host this server does not serve (see DEVSTACK_ALLOWED_HOSTS)")
