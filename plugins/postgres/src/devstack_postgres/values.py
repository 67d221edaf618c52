"""What a record's JSON value may hold beyond what the contract's schema can say.

PostgreSQL's jsonb rejects the NUL character and unpaired UTF-16 surrogates in strings
and object keys, and JSON has no NaN or Infinity (Python's parser accepts them). Such a
value is the client's mistake: it gets a 422 here instead of a failed INSERT.
"""

from __future__ import annotations

import math
import re
from typing import Any

from devstack.api import invalid

UNSTORABLE_CHARACTER = re.compile("[\x00\ud800-\udfff]")


def value_problem(value: Any) -> str | None:
    """Why PostgreSQL cannot store ``value`` as jsonb, or None."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return "numbers must be finite (no NaN or Infinity)"
        texts = [item] if isinstance(item, str) else list(item) if isinstance(item, dict) else []
        if any(UNSTORABLE_CHARACTER.search(text) for text in texts):
            return "strings may not contain NUL (\\u0000) or unpaired surrogates"
        if isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return None


def check_storable(value: Any) -> None:
    """Raise the 422 for a value jsonb cannot hold."""
    problem = value_problem(value)
    if problem is not None:
        raise invalid(["body", "value"], problem)
