"""JSON logs: one object per line, with the request id of the request being served.

The formatter is also a redaction safety net: whatever a caller puts in a record, it
applies devstack's masking policy (:mod:`devstack.foundation.masking`):

- a field whose name looks like a credential (password, pass, pwd, token, secret,
  authorization, api key, keys, credential, private key, ...) is written as ``"***"``,
  at any depth of dicts, and in ``(name, value)`` header pairs;
- ``Authorization: ...`` / ``X-API-Key: ...`` / ``password=...``-like text and the
  password of a ``scheme://user:password@host`` URL are masked inside strings;
- every value registered with :func:`register_secret` (API keys, ...) is masked
  wherever it appears.

Hypercorn's own loggers propagate to the same handler (``devstack serve`` hands
Hypercorn the ``hypercorn.error`` logger itself, so each line is written once).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from itertools import islice
from typing import Any

from devstack.foundation.context import current_request_id
from devstack.foundation.masking import MASK, mask_text, masked, sensitive_name

STANDARD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None)).keys() | {"message", "asctime", "taskName"}
)
MIN_SECRET_LENGTH = 4

FIRST_EXTRA = len(vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None)))
SCALARS = frozenset({int, float, bool})
ENCODER = json.JSONEncoder(default=str)

_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Mask ``value`` wherever it would appear in a log line from now on."""
    if value and len(value) >= MIN_SECRET_LENGTH:
        _secrets.add(value)


def scrub_text(text: str) -> str:
    """``text`` with credential-looking fragments and registered secrets masked."""
    text = mask_text(text)
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def redact(value: Any) -> Any:
    """A copy of ``value`` safe to log (see the module's docstring)."""
    return masked(value, scrub_text)


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object: time, level, logger, message, request_id and
    every ``extra`` field. Exception tracebacks are reduced to the exception's type, so
    that no driver message (which may carry a credential) reaches the log."""

    _second = -1
    _second_text = ""

    def timestamp(self, record: logging.LogRecord) -> str:
        second = int(record.created)
        if second != self._second:  # strftime once per second
            self._second_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        return f"{self._second_text}.{int(record.msecs):03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": scrub_text(record.getMessage()),
        }
        request_id = getattr(record, "request_id", None) or current_request_id()
        if request_id:
            entry["request_id"] = request_id
        # a record's own attributes come first, the ``extra`` fields after them
        for key, value in islice(record.__dict__.items(), FIRST_EXTRA, None):
            if key in STANDARD_ATTRIBUTES or key in entry:
                continue
            if sensitive_name(key):
                entry[key] = MASK
            elif value is None or type(value) in SCALARS:
                entry[key] = value
            else:
                entry[key] = redact(value)
        if record.exc_info and record.exc_info[0] is not None:
            entry["error_type"] = record.exc_info[0].__name__
        return ENCODER.encode(entry)


class FastRecords:
    """Cheap records of one fixed message (the per-request line).

    A record is a real ``LogRecord`` that goes through the logger's filters and every
    handler, but is built from a template instead of ``Logger.makeRecord`` (no caller
    frame walk, no thread and process lookups per request).
    """

    def __init__(self, logger: logging.Logger, message: str, level: int = logging.INFO) -> None:
        self.logger = logger
        self.level = level
        record = logging.LogRecord(logger.name, level, __file__, 0, message, None, None)
        self.template = dict(vars(record))

    def enabled(self) -> bool:
        return self.logger.isEnabledFor(self.level)

    def emit(self, fields: dict[str, Any]) -> None:
        """Log the message with ``fields`` as extras (the caller checked ``enabled()``)."""
        now = time.time()
        record = logging.LogRecord.__new__(logging.LogRecord)
        values = record.__dict__
        values.update(self.template)
        values["created"] = now
        values["msecs"] = (now - int(now)) * 1000
        values["relativeCreated"] = (now - logging._startTime) * 1000  # type: ignore[attr-defined]
        values.update(fields)
        self.logger.handle(record)


def configure_logging(level: str) -> None:
    """Send every logger's records to stderr as JSON lines at ``level``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        if isinstance(existing.formatter, JsonFormatter):
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for noisy in ("hypercorn.access", "aiormq", "aio_pika", "hvac", "pymongo", "asyncio"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    # Hypercorn's error logger writes through this handler only (no handler of its own)
    hypercorn_error = logging.getLogger("hypercorn.error")
    for existing in list(hypercorn_error.handlers):
        hypercorn_error.removeHandler(existing)
    hypercorn_error.propagate = True
