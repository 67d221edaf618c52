"""``devstack serve --server granian``: Granian's Rust HTTP server (hyper, rustls).

Granian's embedded server serves one address with one lifespan per address and reads the
certificate from files it reads again on every reload. devstack serves one application on
two listeners (HTTP and HTTPS), drains before the listeners close and keeps no private key
on disk, so each serving process runs the building block Granian's embedded server runs
itself, one ``ASGIWorker`` per listening socket on this process's uvloop, and keeps the
rest of the lifecycle the one of :mod:`devstack.runtime.server`:

- the sockets are bound as for Hypercorn (the same errors) and shared by ``--workers N``
  the same way; each listener serves a duplicate of the socket's descriptor (Granian closes
  the one it is given when it stops);
- startup and shutdown are Quart's own (``app.startup()`` / ``app.shutdown()``);
- SIGTERM: the drain of :mod:`devstack.runtime.shutdown`, then every listener stops (it
  stops accepting, closes idle connections and waits for the requests in flight, at most
  what is left of the grace), then the plugins' shutdown;
- TLS: rustls reads the PEM from 0600 files in a 0700 directory while the listener is
  built (they are removed right after). A renewal starts a new listener on the same socket
  with the new certificate, then stops the old one: its requests in flight finish, its
  idle keep-alive connections are closed (their clients reconnect and get the new
  certificate).

These worker objects are Granian's internals, not its public API: the extra pins Granian
below its next minor version.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from multiprocessing.synchronize import Event as ProcessEvent
from typing import Any

from granian import _granian
from granian._futures import _new_cbscheduler
from granian.http import HTTP1Settings, HTTP2Settings
from hypercorn.config import Sockets
from hypercorn.utils import LifespanFailureError
from quart import Quart

from devstack.foundation.settings import CoreSettings
from devstack.runtime import tls
from devstack.runtime.app import in_flight_of
from devstack.runtime.shutdown import drain, stop_requested
from devstack.runtime.state import state_of

log = logging.getLogger("devstack.server")

# The extension's own signatures (its .pyi lags them: no ipc or metrics arguments)
ASGIWorker: Any = _granian.ASGIWorker
SocketHolder: Any = _granian.SocketHolder
WorkerSignal = _granian.WorkerSignal

KEEP_ALIVE_MS = 5000  # as Hypercorn's keep_alive_timeout: an idle connection is closed after 5 s


@dataclass(frozen=True)
class ListenerOptions:
    backlog: int
    max_head: int


def watcher_callback(app: Quart) -> Callable[[Any], Awaitable[None]]:
    """What Granian's scheduler runs per request: the ASGI app on the watcher's scope and
    protocol, its outcome reported back to the Rust side."""

    async def run(watcher: Any) -> None:
        proto = watcher.proto
        try:
            await app(watcher.scope, proto.receive, proto.send)
        except BaseException as exc:  # noqa: BLE001 - handed to Granian, which ends the response
            watcher.err(exc)
            return
        watcher.done()

    return run


def socket_name(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class Listener:
    """One listening socket served by one Granian worker at a time."""

    def __init__(self, sock: socket.socket, secure: bool, callback: Any, options: ListenerOptions) -> None:
        self.sock = sock
        self.secure = secure
        self.callback = callback
        self.options = options
        self.current: tuple[_granian.WorkerSignal, asyncio.Future[None]] | None = None

    def start(self, material: tuple[str, str] | None = None) -> None:
        loop = asyncio.get_running_loop()
        signal = WorkerSignal()
        stopped: asyncio.Future[None] = loop.create_future()
        # called on a Rust thread once the worker has stopped (its requests finished)
        signal.add_cb(lambda: loop.call_soon_threadsafe(finish, stopped))
        holder = SocketHolder(os.dup(self.sock.fileno()), False, self.options.backlog)
        scheduler = _new_cbscheduler(loop, self.callback, impl_asyncio=True)  # type: ignore[no-untyped-call]
        if material is None:
            self.worker(holder, {}).serve_str(scheduler, loop, signal)
        else:
            with tls.pem_files(*material) as (certfile, keyfile):
                # rustls reads both files while the worker starts serving: they go right after
                options = {"ssl_enabled": True, "ssl_cert": certfile, "ssl_key": keyfile}
                self.worker(holder, options).serve_str(scheduler, loop, signal)
        self.current = (signal, stopped)

    def worker(self, holder: Any, tls_options: dict[str, Any]) -> Any:
        max_head = self.options.max_head
        return ASGIWorker(
            1,
            (None, holder),
            None,
            threads=1,
            blocking_threads=512,
            py_threads=1,
            py_threads_idle_timeout=30,
            backpressure=self.options.backlog,
            http_mode="auto",
            http1_opts=HTTP1Settings(header_read_timeout=KEEP_ALIVE_MS, max_buffer_size=max_head),
            http2_opts=HTTP2Settings(max_headers_size=max_head),
            websockets_enabled=False,
            static_files=None,
            ssl_protocol_min="tls1.2",
            metrics=(None, None),
            **tls_options,
        )

    async def stop(self) -> None:
        if self.current is None:
            return
        signal, stopped = self.current
        self.current = None
        signal.set()
        await stopped

    async def renew(self, material: tuple[str, str]) -> None:
        """The new certificate for new connections: a new worker first, then the old one stops."""
        old = self.current
        self.start(material)
        if old is not None:
            old[0].set()
            await old[1]


def finish(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class GranianListeners:
    """The plain and HTTPS listeners of one serving process."""

    def __init__(
        self, app: Quart, secure: list[socket.socket], insecure: list[socket.socket], options: ListenerOptions
    ):
        callback = watcher_callback(app)
        self.listeners = [Listener(sock, False, callback, options) for sock in insecure]
        self.listeners += [Listener(sock, True, callback, options) for sock in secure]
        self._renewals: set[asyncio.Task[None]] = set()

    def start(self, manager: tls.TlsManager | None) -> None:
        material = manager.material() if manager is not None else None
        for listener in self.listeners:
            listener.start(material if listener.secure else None)
            scheme = "https" if listener.secure else "http"
            log.info(f"Running on {scheme}://{socket_name(listener.sock)} (CTRL + C to quit)")
        if manager is not None:
            manager.renewal_listeners.append(self.renewed)

    def renewed(self, certificate_pem: str, private_key_pem: str) -> None:
        for listener in self.listeners:
            if listener.secure:
                task = asyncio.get_running_loop().create_task(listener.renew((certificate_pem, private_key_pem)))
                self._renewals.add(task)
                task.add_done_callback(self._renewals.discard)

    async def stop(self, timeout: float) -> None:
        stopping = [listener.stop() for listener in self.listeners]
        try:
            async with asyncio.timeout(timeout):
                await asyncio.gather(*stopping, *self._renewals)
        except TimeoutError:
            log.warning("shutdown grace over with requests in flight; stopping anyway")


async def serve(
    app: Quart, settings: CoreSettings, sockets: Sockets, options: ListenerOptions, process_event: ProcessEvent | None
) -> None:
    """One serving process on Granian: start the app, listen, wait for the stop, drain, stop."""
    try:
        await app.startup()
    except Exception:  # noqa: BLE001 - Quart logged it
        # the failure Hypercorn's lifespan raises too: devstack serve says it in one line
        raise LifespanFailureError("startup", "the application failed to start") from None
    listeners = GranianListeners(app, sockets.secure_sockets, sockets.insecure_sockets, options)
    try:
        listeners.start(state_of(app).tls)
        await stop_requested(process_event)
        left = await drain(app, in_flight_of(app), settings.shutdown_grace, delay=settings.shutdown_delay)
        await listeners.stop(left)
    finally:
        await app.shutdown()
