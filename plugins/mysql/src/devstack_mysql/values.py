"""What a record's JSON value may hold beyond what the contract's schema can say.

MariaDB checks a JSON column with JSON_VALID, which refuses more than 31 nested arrays
or objects and unpaired UTF-16 surrogates; JSON itself has no NaN or Infinity (Python's
parser accepts them). Such a value is the client's mistake: it gets a 422 here instead
of a failed INSERT.
"""

from __future__ import annotations

import math
import re
from typing import Any

from devstack.api import invalid

MAX_DEPTH = 31
UNPAIRED_SURROGATE = re.compile("[\ud800-\udfff]")


def value_problem(value: Any) -> str | None:
    """Why MariaDB's JSON column cannot hold ``value``, or None."""
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return "numbers must be finite (no NaN or Infinity)"
        if isinstance(item, (dict, list)) and depth == MAX_DEPTH:
            return f"arrays and objects may nest at most {MAX_DEPTH} levels deep"
        texts = [item] if isinstance(item, str) else list(item) if isinstance(item, dict) else []
        if any(UNPAIRED_SURROGATE.search(text) for text in texts):
            return "strings may not contain unpaired surrogates"
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        pending.extend((child, depth + 1) for child in children)
    return None


def check_storable(value: Any) -> None:
    """Raise the 422 for a value the JSON column cannot hold."""
    problem = value_problem(value)
    if problem is not None:
        raise invalid(["body", "value"], problem)
