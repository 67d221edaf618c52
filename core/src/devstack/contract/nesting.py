"""How deep a JSON request body nests arrays and objects, measured without recursion.

Python's parser accepts nearly 1000 levels; a handler that walks or re-encodes such a
value (``json.dumps``, a driver's encoder, a validator) runs out of stack deeper in the
call chain. Core therefore refuses bodies nested deeper than ``DEVSTACK_MAX_BODY_DEPTH``
(64) before any handler runs. The depth is measured on the bytes, without recursion and
in time linear in the brackets: strings are cut out (a bracket inside a string does not
nest), each remaining bracket becomes +1 or -1, and the deepest level is the largest
running sum.
"""

from __future__ import annotations

import json
from array import array
from itertools import accumulate

from devstack.foundation.errors import ValidationFailed

AS_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")  # +1 and -1 as signed bytes
NOT_A_BRACKET = bytes(sorted(set(range(256)) - set(b"[]{}")))


def outside_strings(raw: bytes) -> bytes:
    """The parts of a JSON text (that parses) outside its strings. Escapes occur only
    inside strings and are read left to right, so dropping ``\\\\`` and then ``\\"`` leaves
    every remaining quote a string's first or last: the text between pairs of them goes."""
    unescaped = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    return b"".join(unescaped.split(b'"')[0::2])


def nests_deeper_than(raw: bytes, limit: int) -> bool:
    """Whether the JSON text ``raw`` nests arrays and objects more than ``limit`` deep.

    ``raw`` must be a text that parses (every string closed, escapes only in strings).
    A text in UTF-16 or UTF-32 is re-encoded as UTF-8 first, where no byte of a non-ASCII
    character looks like a bracket, a quote or a backslash.
    """
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False  # the common case: too few brackets to nest that deep
    encoding = json.detect_encoding(raw)
    if encoding != "utf-8":
        raw = raw.decode(encoding, "surrogatepass").encode("utf-8", "surrogatepass")
    steps = array("b", outside_strings(raw).translate(AS_STEPS, NOT_A_BRACKET))
    return max(accumulate(steps), default=0) > limit


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
