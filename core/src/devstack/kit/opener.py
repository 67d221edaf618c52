"""Open a backend client in the background, retrying with backoff; close it at shutdown.

A plugin whose backend is down at startup must not hold the application back: its
``devstack_startup`` calls ``start()``, which returns at once, and its routes answer 503
until ``client`` is set. ``first_attempt`` is set once the first attempt has settled
(opened or failed): hand it to ``host.opening(service, opener.first_attempt)`` so that
``devstack health`` judges only after it; ``opened`` is set while ``client`` is in place.
``stop()`` ends the retrying, waits for an attempt that is still connecting (cancelling a
driver halfway through its handshake leaks the connections it opened, as asyncpg's and
aiomysql's pool constructors do), drops what that attempt opened and closes the client,
each step bounded.

The retry schedule is tenacity's (exponential backoff with jitter, capped).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential_jitter

log = logging.getLogger("devstack.opener")

ClientT = TypeVar("ClientT")


class BackgroundOpener(Generic[ClientT]):
    """The client of one backend, opened by a background task that retries until it works.

    ``open`` makes a client (raising on failure); ``close(client)`` closes it gracefully
    within the timeout. A client an attempt made after shutdown began is handed to
    ``discard(client)``, which drops it at once (a pool's ``terminate``), or, without
    ``discard``, closed with ``close`` by :meth:`stop`. ``on_open(client)`` runs when the
    client is in place.
    """

    def __init__(
        self,
        service: str,
        what: str,
        *,
        open: Callable[[], Awaitable[ClientT]],
        close: Callable[[ClientT, float], Awaitable[None]],
        discard: Callable[[ClientT], None] | None = None,
        timeout: float,
        retry_max_wait: float,
        on_open: Callable[[ClientT], None] | None = None,
    ) -> None:
        self.service = service
        self.what = what
        self.client: ClientT | None = None
        self._open = open
        self._close = close
        self._discard = discard
        self._timeout = timeout
        self._retry_max_wait = retry_max_wait
        self._on_open = on_open
        self._task: asyncio.Task[None] | None = None
        self._attempt: asyncio.Future[ClientT] | None = None
        self.first_attempt = asyncio.Event()
        self.opened = asyncio.Event()  # set once ``client`` is in place

    def start(self) -> None:
        """Start opening the client in the background (returns at once)."""
        self._task = asyncio.create_task(self._open_until_done(), name=f"devstack-{self.service}-{self.what}")

    async def stop(self) -> None:
        """Stop retrying, settle a running attempt and close the client, each bounded."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task], timeout=self._timeout)
            self._task = None
        await self._settle_attempt()
        self.first_attempt.set()  # nothing is opening any more
        client, self.client = self.client, None
        self.opened.clear()
        if client is not None:
            await self._close(client, self._timeout)

    async def _settle_attempt(self) -> None:
        attempt, self._attempt = self._attempt, None
        if attempt is None:
            return
        if not attempt.done():
            await asyncio.wait([attempt], timeout=self._timeout * 2)
        if not attempt.done():
            attempt.cancel()
        elif not attempt.cancelled() and attempt.exception() is None and attempt.result() is not self.client:
            late = attempt.result()
            if self._discard is not None:
                self._discard(late)
            else:
                await self._close(late, self._timeout)

    async def _open_until_done(self) -> None:
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(Exception),
            wait=wait_exponential_jitter(multiplier=0.2, max=self._retry_max_wait, jitter=0.5),
            before_sleep=self._log_retry,
        )
        async for attempt in retrying:
            with attempt:
                try:
                    # shielded: cancelling the retry loop must not cut an attempt short
                    self._attempt = asyncio.ensure_future(self._open())
                    self.client = await asyncio.shield(self._attempt)
                finally:
                    self.first_attempt.set()
        log.info("%s %s open", self.service, self.what, extra={"service": self.service})
        self.opened.set()
        if self._on_open is not None and self.client is not None:
            self._on_open(self.client)

    def _log_retry(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        log.warning(
            "%s %s not open yet",
            self.service,
            self.what,
            extra={"service": self.service, "error_type": type(error).__name__, "attempt": state.attempt_number},
        )
