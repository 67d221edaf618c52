"""The records every database plugin stores: their JSON text, a page, and the cached total.

A record is ``{"id", "key", "value", "created_at"}``; its value is kept as the JSON text
:func:`stored_json` writes, so that it reads back exactly as it was sent.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

PAGE_VALUE_BYTES = 1 << 20
"""A page stops before the record that would take its values past this many bytes of
stored JSON text (the first record is always answered)."""

Record = dict[str, Any]


def stored_json(value: Any) -> str:
    """The text a value is stored as: compact, characters unescaped (a number as Python
    writes the one core parsed: ``1e308`` stays ``1e+308``). Raises ``ValueError`` for a
    value without exact JSON text (NaN, infinite) and ``RecursionError`` for one nested
    too deep; core's backend guard answers either with a 422."""
    return json.dumps(value, allow_nan=False, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class Page:
    """Records newest first; whether the page stopped before ``limit`` records because of
    :data:`PAGE_VALUE_BYTES`; the number of records in all, when it was asked for."""

    items: list[Record]
    truncated: bool
    total: int | None = None


class CachedTotal:
    """How many records there are, reused for ``seconds`` (counting reads the whole table).

    Records stored through this process are added at once, so a client that inserts and
    then lists sees its own records counted.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._counted: tuple[float, int] | None = None  # (monotonic time counted, records)

    def recent(self) -> int | None:
        """The total counted less than ``seconds`` ago, or None (count again)."""
        if self._counted is None or time.monotonic() - self._counted[0] >= self.seconds:
            return None
        return self._counted[1]

    def counted(self, total: int) -> None:
        self._counted = (time.monotonic(), total)

    def added(self) -> None:
        if self._counted is not None:
            self._counted = (self._counted[0], self._counted[1] + 1)
