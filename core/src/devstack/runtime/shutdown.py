"""Graceful shutdown: SIGTERM makes the app not ready at once, then lets requests finish.

Sequence in each serving process (single process, or every worker):

1. the stop signal arrives (SIGTERM/SIGINT to the process, or the parent's shutdown
   event with ``--workers N``);
2. the application is marked shutting down: ``GET /health/ready`` answers 503 from now
   on, on every connection, including keep-alive connections opened before; for
   ``DEVSTACK_SHUTDOWN_DELAY`` seconds (0 by default) requests are still served as
   usual, so that a load balancer checking readiness takes the instance out before it
   stops accepting them (the ``preStop`` pause of an orchestrator, built in);
3. requests in flight are awaited (at most ``DEVSTACK_SHUTDOWN_GRACE`` seconds in all);
4. the server (Hypercorn or Granian) stops listening, closes idle connections, waits for
   what remains (the rest of the grace period) and runs the lifespan shutdown: the plugins' ``devstack_shutdown``
   hooks close their pools and connections;
5. the process exits with code 0. A request still running when the grace is over is
   cancelled by the server; when it had not begun its answer, it gets a 503 envelope
   (``reason: shutting_down``) instead of the server's bare 500.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
from collections.abc import Awaitable, Callable
from multiprocessing.synchronize import Event as ProcessEvent
from typing import Any

from hypercorn.typing import ASGIReceiveCallable, ASGISendCallable, Scope
from quart import Quart

from devstack.foundation.errors import ApiError, BadRequest, ServiceUnavailable
from devstack.http.pipeline import new_request_id

log = logging.getLogger("devstack.shutdown")

ASGIApp = Callable[[Scope, ASGIReceiveCallable, ASGISendCallable], Awaitable[None]]


class InFlight:
    """ASGI middleware counting the HTTP requests being served."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.active = 0
        self.idle = asyncio.Event()
        self.idle.set()

    async def __call__(self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.active += 1
        self.idle.clear()
        started = False

        async def tracked(message: Any) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except asyncio.CancelledError:
            # the shutdown grace is over and the server cancels what still runs: a request
            # not answered yet gets a 503 envelope (each server's own answer is a bare 500)
            if not started:
                await answer(send, SHUTTING_DOWN)
        else:
            if not started:
                # Quart ends a request whose client hung up mid-body without an answer
                # (Granian would then send its bare 500): a 400 envelope, if anyone reads it
                await answer(send, HUNG_UP)
        finally:
            self.active -= 1
            if self.active == 0:
                self.idle.set()


SHUTTING_DOWN = ServiceUnavailable(
    "devstack", "the server stopped before the request was answered", reason="shutting_down"
)
HUNG_UP = BadRequest("the client closed the connection before the request was complete")


async def answer(send: ASGISendCallable, error: ApiError) -> None:
    """``error``'s envelope as the whole response (on a request no response was begun for)."""
    body = json.dumps(error.body(new_request_id())).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    try:
        await send({"type": "http.response.start", "status": error.status_code, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})
    except Exception:  # noqa: BLE001 - the client is gone: nothing to answer
        log.debug("a request without an answer could not be answered", extra={"status": error.status_code})


def install_in_flight(app: Quart) -> InFlight:
    counter = InFlight(app.asgi_app)
    app.asgi_app = counter  # type: ignore[method-assign]
    return counter


async def stop_requested(process_event: ProcessEvent | None = None) -> None:
    """Return when SIGTERM/SIGINT reaches this process or the parent sets ``process_event``."""
    loop = asyncio.get_running_loop()
    received = asyncio.Event()
    installed: list[signal.Signals] = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(signum, received.set)
            installed.append(signum)
        except (NotImplementedError, RuntimeError, ValueError):  # pragma: no cover - not the main thread
            pass
    try:
        while not received.is_set():
            if process_event is not None and process_event.is_set():
                return
            try:
                await asyncio.wait_for(received.wait(), 0.1 if process_event is not None else None)
            except TimeoutError:
                pass
    finally:
        for handled in installed:
            loop.remove_signal_handler(handled)


async def drain(app: Quart, in_flight: InFlight, grace: float, config: Any | None = None, delay: float = 0.0) -> float:
    """Steps 2 and 3: mark the app shutting down, keep serving ``delay`` seconds, await
    requests in flight (at most ``grace`` seconds); returns the seconds left of the grace."""
    from devstack.runtime.state import state_of

    loop = asyncio.get_running_loop()
    state_of(app).shutting_down = True
    if delay > 0:
        log.info("shutdown requested: not ready, serving until the delay is over", extra={"delay_s": delay})
        await asyncio.sleep(delay)
    deadline = loop.time() + grace
    log.info("shutdown requested: not ready, draining requests in flight", extra={"in_flight": in_flight.active})
    try:
        async with asyncio.timeout_at(deadline):
            await in_flight.idle.wait()
    except TimeoutError:
        log.warning("shutdown grace over with requests in flight", extra={"in_flight": in_flight.active})
    left = max(0.1, deadline - loop.time())
    if config is not None:
        config.graceful_timeout = left  # Hypercorn's own wait gets what is left of the grace
    log.info("requests drained; closing", extra={"in_flight": in_flight.active, "grace_left_s": round(left, 2)})
    return left


def shutdown_trigger(
    app: Quart,
    in_flight: InFlight,
    grace: float,
    config: Any,
    process_event: ProcessEvent | None = None,
    delay: float = 0.0,
) -> Callable[[], Awaitable[None]]:
    """The ``shutdown_trigger`` handed to Hypercorn's ``worker_serve``."""

    async def trigger() -> None:
        await stop_requested(process_event)
        await drain(app, in_flight, grace, config, delay)

    return trigger
