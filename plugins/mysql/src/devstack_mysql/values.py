"""What a record's JSON value may hold beyond what the contract's schema can say.

MariaDB checks a JSON column with JSON_VALID, which refuses more than 31 nested arrays or
objects. Such a value is the client's mistake: it gets a 422 here instead of a failed
INSERT. (What is not JSON at all, NaN or an overflowing number, core refuses with the body.)
"""

from __future__ import annotations

from typing import Any

from devstack.api import invalid

MAX_DEPTH = 31


def value_problem(value: Any) -> str | None:
    """Why MariaDB's JSON column cannot hold ``value``, or None."""
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, (dict, list)):
            if depth == MAX_DEPTH:
                return f"arrays and objects may nest at most {MAX_DEPTH} levels deep"
            children = item.values() if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)
    return None


def check_storable(value: Any) -> None:
    """Raise the 422 for a value the JSON column cannot hold."""
    problem = value_problem(value)
    if problem is not None:
        raise invalid(["body", "value"], problem)
