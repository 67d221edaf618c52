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

Lines logged on the event loop are written together once per loop iteration
(:class:`JsonLinesHandler`): one write for every request that finished in that iteration
instead of one each. They are never held across a wait: the write is the next callback
the loop runs, before it polls again.
"""

from __future__ import annotations

import asyncio
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
# texts already scrubbed (routes, methods, plugin names, messages repeat on every line):
# forgotten whenever a secret is registered, since the answer may change then
_scrubbed: dict[str, str] = {}
SCRUBBED_CACHE_SIZE = 2048
MAX_CACHED_TEXT = 200


def register_secret(value: str | None) -> None:
    """Mask ``value`` wherever it would appear in a log line from now on."""
    if value and len(value) >= MIN_SECRET_LENGTH:
        _secrets.add(value)
        _scrubbed.clear()


def scrub_text(text: str) -> str:
    """``text`` with credential-looking fragments and registered secrets masked."""
    known = _scrubbed.get(text)
    if known is not None:
        return known
    result = mask_text(text)
    for secret in _secrets:
        if secret in result:
            result = result.replace(secret, MASK)
    if len(text) <= MAX_CACHED_TEXT:
        if len(_scrubbed) >= SCRUBBED_CACHE_SIZE:
            _scrubbed.clear()
        _scrubbed[text] = result
    return result


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
            elif type(value) is str:
                entry[key] = scrub_text(value)
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


class JsonLinesHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that writes the lines logged during one event-loop iteration
    with one write, as the loop's next callback (see the module's docstring).

    A line logged outside a running loop (another thread, before or after serving) is
    written at once, after the lines still waiting, so that the order is kept.
    ``flush`` (also at interpreter exit) writes what waits.
    """

    def __init__(self, stream: Any = None) -> None:
        super().__init__(stream)
        self._waiting: list[str] = []
        # the loop whose callback will write the waiting lines (another loop schedules
        # its own: a loop may close before it runs its callbacks, tests make many)
        self._writer_loop: asyncio.AbstractEventLoop | None = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + self.terminator
        except Exception:  # noqa: BLE001 - as logging.StreamHandler: report, never raise
            self.handleError(record)
            return
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None:
            self._waiting.append(line)
            self.flush()
            return
        self._waiting.append(line)
        if self._writer_loop is not loop:
            self._writer_loop = loop
            loop.call_soon(self._write_waiting)

    def _write_waiting(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            self.flush()

    def flush(self) -> None:
        # called with the handler's lock held (emit, logging.shutdown, _write_waiting)
        self._writer_loop = None
        text, self._waiting = "".join(self._waiting), []
        try:
            if text:
                self.stream.write(text)
            super().flush()
        except (OSError, ValueError):  # a closed stream (a test's capture): nothing to write to
            pass


def configure_logging(level: str) -> None:
    """Send every logger's records to stderr as JSON lines at ``level``."""
    handler = JsonLinesHandler(sys.stderr)
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
