"""The rules of the conformance suite: stable names, and the failure that names one.

A rule's name never changes once published (plugin authors grep their CI logs for it); a
broken rule fails with ``conformance rule 'NAME' broken: ...`` followed by each finding,
which names the operation and, for a request, the request itself (a curl command).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

RULES: dict[str, str] = {}
"""Every rule's stable name and what it asks of a plugin, in the order they run."""

MAX_SHOWN = 8


class Violation(AssertionError):
    """A plugin breaks a rule; the message starts with the rule's name."""

    def __init__(self, rule: str, findings: Iterable[str]) -> None:
        found = list(findings)
        shown = found[:MAX_SHOWN]
        more = f"\n  ... and {len(found) - MAX_SHOWN} more" if len(found) > MAX_SHOWN else ""
        body = "".join(f"\n  - {finding}" for finding in shown)
        super().__init__(f"conformance rule {rule!r} broken ({RULES.get(rule, '')}):{body}{more}")
        self.rule = rule
        self.findings = found


def rule(name: str, summary: str) -> Callable[[F], F]:
    """Register a test as the check of rule ``name``: any assertion it raises becomes a
    ``Violation`` naming the rule."""

    def register(check: F) -> F:
        RULES[name] = summary

        @functools.wraps(check)
        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                return check(*args, **kwargs)
            except Violation:
                raise
            except AssertionError as exc:
                raise Violation(name, [str(exc)]) from None

        run.devstack_rule = name  # type: ignore[attr-defined]
        return run  # type: ignore[return-value]

    return register


def require(name: str, findings: list[str]) -> None:
    """Fail rule ``name`` when there are findings."""
    if findings:
        raise Violation(name, findings)
