"""How deep a JSON request body nests arrays and objects, measured without recursion.

Python's parser accepts nearly 1000 levels; a handler that walks or re-encodes such a
value (``json.dumps``, a driver's encoder, a validator) runs out of stack deeper in the
call chain. Core therefore refuses bodies nested deeper than ``DEVSTACK_MAX_BODY_DEPTH``
(64) before any handler runs. The depth is measured on the bytes, in C-speed passes:
strings are cut out (a bracket inside a string does not nest), only the brackets are
kept, and each pass removes every innermost ``[]``/``{}`` pair, so a text whose pairs
are all gone after ``limit`` passes nests at most ``limit`` levels.
"""

from __future__ import annotations

import json
import re

from devstack.errors import ValidationFailed

# One JSON string (the unrolled form: linear on a text that parses; see nests_deeper_than)
JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
AS_PARENTHESES = bytes.maketrans(b"[{]}", b"(())")
NOT_A_BRACKET = bytes(sorted(set(range(256)) - set(b"[]{}")))


def nests_deeper_than(raw: bytes, limit: int) -> bool:
    """Whether the JSON text ``raw`` nests arrays and objects more than ``limit`` deep.

    ``raw`` must be a text that parses (every string closed): cutting the strings out is
    then linear. A text in UTF-16 or UTF-32 is re-encoded as UTF-8 first, where no byte
    of a non-ASCII character looks like a bracket or a quote.
    """
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False  # the common case: too few brackets to nest that deep
    encoding = json.detect_encoding(raw)
    if encoding != "utf-8":
        raw = raw.decode(encoding, "surrogatepass").encode("utf-8", "surrogatepass")
    brackets = JSON_STRING.sub(b"", raw).translate(AS_PARENTHESES, NOT_A_BRACKET)
    for _ in range(limit):
        inner_removed = brackets.replace(b"()", b"")
        if len(inner_removed) == len(brackets):
            return False  # no pair left (only unmatched brackets, if any)
        brackets = inner_removed
    return b"()" in brackets  # a pair that survived ``limit`` passes sits deeper


def too_deep(limit: int) -> ValidationFailed:
    return ValidationFailed(
        [
            {
                "loc": ["body"],
                "msg": f"Body nests arrays or objects too deep: at most {limit} levels",
                "type": "json_too_deep",
            }
        ]
    )


def refuse_deep_json(raw: bytes, limit: int) -> None:
    """422 for a JSON body nested deeper than ``limit``, for a body core does not
    validate itself (an operation without a JSON schema): a handler that parses it
    gets a bounded value. A body that is not JSON at all is left to the handler."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return
    try:
        json.loads(raw)
    except RecursionError:
        raise too_deep(limit) from None
    except ValueError:
        return
    if nests_deeper_than(raw, limit):
        raise too_deep(limit)
