"""Keep exception text out of the AMQP client's own log lines.

aio-pika and aiormq log reconnection failures with the exception as a ``%s`` argument;
broker and socket messages do not belong in devstack's logs (they can name users,
vhosts and hosts), so every exception argument is reduced to its type name.
"""

from __future__ import annotations

import logging

LIBRARY_LOGGERS = ("aio_pika", "aiormq")


class ExceptionTypeOnly(logging.Filter):
    """Replaces exception arguments of a record by their type name."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(arg, BaseException) for arg in record.args):
            record.args = tuple(type(arg).__name__ if isinstance(arg, BaseException) else arg for arg in record.args)
        return True


FILTER = ExceptionTypeOnly()


def install() -> None:
    """Attach the filter to the client libraries' loggers (idempotent).

    Logger filters do not propagate to child loggers, so each existing child
    (``aio_pika.robust_connection``, ``aiormq.connection``, ...) gets it too.
    """
    names = [
        name
        for name in list(logging.root.manager.loggerDict)
        if any(name == root or name.startswith(root + ".") for root in LIBRARY_LOGGERS)
    ]
    for name in {*LIBRARY_LOGGERS, *names}:
        logger = logging.getLogger(name)
        if FILTER not in logger.filters:
            logger.addFilter(FILTER)
