"""Deliver a message whose AMQP frames the client library cannot decode strictly.

pamqp decodes every short string as strict UTF-8 and every timestamp into a
``datetime``. A message published (or routed through an exchange) with a routing key, a
``message_id`` or a content type that is not UTF-8, or with a timestamp out of
``datetime``'s range, makes it raise; aiormq then takes the frame as broken and closes
the whole connection. Any publisher could so stop every publish and consume of the
application, again at each consume, since the message goes back to the queue each time.

``install()`` makes the decoding tolerant: a short string that is not UTF-8 is read with
U+FFFD for its bad bytes, and a content header whose properties still cannot be decoded
keeps its body size and reads them as absent (the message is delivered with null
properties). Nothing else changes: frames that are really broken still raise.
"""

from __future__ import annotations

from pamqp import commands, decode, header

_strict_short_str = decode.short_str
_strict_unmarshal = header.ContentHeader.unmarshal


def lenient_short_str(value: bytes) -> tuple[int, str]:
    """``decode.short_str``, with bytes that are not UTF-8 replaced instead of raising."""
    try:
        return _strict_short_str(value)
    except UnicodeDecodeError:
        length = value[0]
        return length + 1, value[1 : length + 1].decode("utf-8", "replace")


def tolerant_unmarshal(self: header.ContentHeader, data: bytes) -> None:
    """``ContentHeader.unmarshal``, with properties that cannot be decoded read as none."""
    try:
        _strict_unmarshal(self, data)
    except (ValueError, OverflowError, OSError):  # a header table that is not UTF-8, a year out of range
        if self.class_id is None:  # the header's own fields are unreadable: a broken frame
            raise
        self.properties = commands.Basic.Properties()


def install() -> None:
    """Make the frame decoding tolerant (idempotent)."""
    decode.METHODS["shortstr"] = lenient_short_str
    header.ContentHeader.unmarshal = tolerant_unmarshal  # type: ignore[method-assign]
