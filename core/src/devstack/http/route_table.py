"""The route table: what the pipeline knows about every served route, frozen before the
pipeline is installed.

The application is built in one direction (``devstack.runtime.app``): plugins, contract,
routes, then this table, then the pipeline that reads it. Nothing adds a route or an
operation once the table is frozen, so the pipeline holds no reference to anything that
is still being patched.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from devstack.contract.validation import OperationValidator
from devstack.http.ratelimit import limit_class
from devstack.observability.metrics import CoreMetrics

UNMATCHED = "unmatched"

Operation = tuple[str, str]  # (method, OpenAPI path template)


class RouteInfo:
    """What the pipeline needs about one (method, route template), computed once.

    The metric children's value objects are kept when prometheus-client has them, so
    that a request's counts skip the per-call checks of the wrappers (the children are
    made once here, after which those checks cannot fail).
    """

    __slots__ = (
        "_count_values",
        "_in_progress",
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
        self._in_progress = value_of(self.in_progress)
        self.duration = metrics.duration.labels(method, route)
        self._requests = metrics.requests
        self._statuses: dict[int, Any] = {}
        self._method, self._route = method, route

    def in_progress_inc(self) -> None:
        self._in_progress.inc(1)

    def in_progress_dec(self) -> None:
        self._in_progress.inc(-1)

    def count(self, status: int) -> None:
        counter = self._statuses.get(status)
        if counter is None:
            counter = value_of(self._requests.labels(self._method, self._route, str(status)))
            self._statuses[status] = counter
        counter.inc(1)


class _Wrapper:
    """A metric child without a value object of its own: ``inc(amount)`` on it."""

    __slots__ = ("child",)

    def __init__(self, child: Any) -> None:
        self.child = child

    def inc(self, amount: float) -> None:
        if amount >= 0:
            self.child.inc(amount)
        else:
            self.child.dec(-amount)


def value_of(child: Any) -> Any:
    """The child's value object (``inc(amount)``; prometheus-client's ``_value``, in-process
    and multiprocess alike), or the child behind the same interface."""
    value = getattr(child, "_value", None)
    return value if value is not None and hasattr(value, "inc") else _Wrapper(child)


class RouteTable:
    """Served routes: Quart rule to path template, operation to owner and validator.

    The mappings are copied and read-only. ``info`` makes the per-route metric children
    on first use (labels come from bounded sets only: method labels and route templates).
    """

    def __init__(
        self,
        rule_paths: Mapping[str, str],
        owners: Mapping[Operation, str],
        validators: Mapping[Operation, OperationValidator],
        metrics: CoreMetrics,
    ) -> None:
        self.rule_paths: Mapping[str, str] = MappingProxyType(dict(rule_paths))
        self.owners: Mapping[Operation, str] = MappingProxyType(dict(owners))
        self.validators: Mapping[Operation, OperationValidator] = MappingProxyType(dict(validators))
        self._metrics = metrics
        self._entries: dict[tuple[str, str], RouteInfo] = {}

    def route_of(self, rule: str | None) -> str:
        """The path template of a matched Quart rule, ``unmatched`` without one."""
        if rule is None:
            return UNMATCHED
        return self.rule_paths.get(rule, rule)

    def info(self, method: str, route: str) -> RouteInfo:
        """RouteInfo of a method label and a route template (both from bounded sets)."""
        key = (method, route)
        info = self._entries.get(key)
        if info is None:
            operation = ("GET" if method == "HEAD" else method, route)
            validator = self.validators.get(operation) if route != UNMATCHED else None
            info = RouteInfo(method, route, self.owners.get(operation), self._metrics, validator)
            self._entries[key] = info
        return info
