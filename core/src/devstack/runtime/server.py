"""``devstack serve``: Hypercorn (uvloop) on the plain and, with TLS, the HTTPS port; or
Granian with ``--server granian`` (see :mod:`devstack.runtime.granian_server`).

One process (``--workers 1``, the default) or a parent with N spawned workers sharing
the listening sockets (bound here, for either server). In both cases every serving process
runs Hypercorn's ``worker_serve`` with devstack's shutdown trigger (see
:mod:`devstack.runtime.shutdown`), or Granian's listeners with the same drain, builds
its own application (plugins, pools) and, with TLS, obtains its own certificate (see
:mod:`devstack.runtime.tls`). With several workers:

- ``/metrics`` aggregates every worker (prometheus-client multiprocess mode; its
  directory, ``PROMETHEUS_MULTIPROC_DIR`` or a fresh temporary one, is emptied at start);
- rate limits are shared when ``DEVSTACK_RATE_LIMIT_STORAGE`` is a Redis URI (with the
  default memory storage each worker counts on its own);
- the workers are one instance: they share ``DEVSTACK_INSTANCE_ID`` (generated here when
  it is not set), so per-instance shared-cache entries (``/health/all``) serve them all.

Hypercorn logs through the ``hypercorn.error`` logger, which has no handler of its own:
its lines go through devstack's JSON handler, once.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import signal
import socket
import ssl
import sys
import tempfile
from multiprocessing import get_context
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event as ProcessEvent
from pathlib import Path
from typing import Any

from hypercorn.asyncio.run import worker_serve
from hypercorn.config import Config, Sockets
from hypercorn.utils import LifespanFailureError, wrap_app

from devstack.foundation.settings import CoreSettings, new_instance_id
from devstack.observability.logs import configure_logging
from devstack.runtime import tls

log = logging.getLogger("devstack.server")


MAX_REQUEST_HEAD = 256 * 1024


class ServeError(Exception):
    """``devstack serve`` cannot start; the message says what failed and on what."""


class DevstackConfig(Config):
    """Hypercorn's config, with the TLS context built from devstack's certificate manager.

    The context is created once per listener and kept by the manager, which calls
    ``load_cert_chain`` on it again when the certificate is renewed.
    """

    tls_enabled: bool = False

    @property
    def ssl_enabled(self) -> bool:
        return self.tls_enabled or (self.certfile is not None and self.keyfile is not None)

    def create_ssl_context(self) -> ssl.SSLContext | None:
        if not self.ssl_enabled:
            return None
        manager = tls.current()
        if manager is None:
            raise RuntimeError("TLS is enabled but the application obtained no certificate")
        return manager.context(self.ciphers, list(self.alpn_protocols))


def hypercorn_config(settings: CoreSettings) -> DevstackConfig:
    config = DevstackConfig()
    config.application_path = "devstack.asgi:app"
    config.worker_class = "uvloop"
    config.workers = settings.workers
    config.graceful_timeout = settings.shutdown_grace
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    config.loglevel = settings.log_level.upper()
    config.keep_alive_timeout = 5
    # The longest request head the contract allows: a 10,000-character query value (the
    # cache example's), percent-encoded UTF-8 at up to 12 bytes a character, is ~120 KB.
    # Hypercorn's default (16 KiB) refused such a valid request with a bare 431.
    config.h11_max_incomplete_size = MAX_REQUEST_HEAD
    config.h2_max_header_list_size = MAX_REQUEST_HEAD
    plain = f"{settings.host}:{settings.port}"
    if settings.tls_enabled:
        config.tls_enabled = True
        config.bind = [f"{settings.host}:{settings.https_port}"]
        config.insecure_bind = [plain]
    else:
        config.bind = [plain]
    return config


def prepare_multiprocess_metrics(settings: CoreSettings) -> None:
    """With several workers, point prometheus-client at an empty shared directory."""
    if settings.workers <= 1:
        return
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(prefix="devstack-metrics-")
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink(missing_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)


def lean_log_records() -> None:
    """Skip what devstack's JSON lines never show (caller frame, thread, process names):
    the optimisations of the logging HOWTO, applied in serving processes only."""
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


def run_worker(config: DevstackConfig, sockets: Sockets, shutdown_event: ProcessEvent | None = None) -> None:
    """One serving process: build the app, serve until told to stop, drain, shut down."""
    import uvloop

    from devstack.asgi import app
    from devstack.runtime.state import state_of

    settings = state_of(app).settings
    lean_log_records()
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.get_loop().set_exception_handler(_exception_handler)
            if settings.server == "granian":
                from devstack.runtime import granian_server

                options = granian_server.ListenerOptions(backlog=config.backlog, max_head=MAX_REQUEST_HEAD)
                runner.run(granian_server.serve(app, settings, sockets, options, shutdown_event))
            else:
                runner.run(hypercorn_serve(app, config, sockets, shutdown_event))
    except LifespanFailureError:
        reason = tls.startup_failure() or "the application failed to start (see the log lines above)"
        raise ServeError(reason) from None
    finally:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


async def hypercorn_serve(app: Any, config: DevstackConfig, sockets: Sockets, event: ProcessEvent | None) -> None:
    from devstack.runtime.app import in_flight_of
    from devstack.runtime.shutdown import shutdown_trigger
    from devstack.runtime.state import state_of

    settings = state_of(app).settings
    trigger = shutdown_trigger(
        app, in_flight_of(app), settings.shutdown_grace, config, process_event=event, delay=settings.shutdown_delay
    )
    await worker_serve(
        wrap_app(app, config.wsgi_max_body_size, "asgi"), config, sockets=sockets, shutdown_trigger=trigger
    )


def check_server(settings: CoreSettings) -> None:
    """``--server granian`` needs the granian extra: say so before binding anything."""
    if settings.server != "granian":
        return
    try:
        import granian  # noqa: F401
    except ImportError:
        raise ServeError(
            "the Granian server is not installed (--server / DEVSTACK_SERVER): pip install 'devstack-core[granian]'"
        ) from None


def run_worker_process(config: DevstackConfig, sockets: Sockets, shutdown_event: ProcessEvent) -> None:
    """A spawned worker: ``run_worker``, a startup failure said in one line (no traceback)."""
    try:
        run_worker(config, sockets, shutdown_event)
    except ServeError as exc:
        print(f"devstack serve: {exc}", file=sys.stderr)
        sys.exit(2)


def _exception_handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    if isinstance(context.get("exception"), ssl.SSLError):
        return  # a client's failed handshake
    loop.default_exception_handler(context)


def run_workers(config: DevstackConfig, sockets: Sockets) -> int:
    """The parent of ``config.workers`` spawned workers (Hypercorn's ``run`` without the
    reloader, with devstack's worker function)."""
    ctx = get_context("spawn")
    shutdown_event = ctx.Event()

    def shutdown(*_: Any) -> None:
        shutdown_event.set()

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # inherited: the parent decides
    processes: list[BaseProcess] = []
    for _ in range(config.workers):
        process = ctx.Process(  # type: ignore[attr-defined]
            target=run_worker_process, kwargs={"config": config, "sockets": sockets, "shutdown_event": shutdown_event}
        )
        process.start()
        processes.append(process)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, shutdown)

    exitcode = 0
    remaining = list(processes)
    while remaining:
        finished = wait([process.sentinel for process in remaining])
        for worker in list(remaining):
            if worker.sentinel in finished:
                worker.join()
                remaining.remove(worker)
                if worker.exitcode and not exitcode:
                    exitcode = worker.exitcode
                    shutdown_event.set()  # one worker failed: stop the others too
    for sock in [*sockets.secure_sockets, *sockets.insecure_sockets]:
        sock.close()
    return exitcode


def bind_problem(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be bound now (None: it can), as a person reads it."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        return listen_reason(exc)
    return None


UNRESOLVABLE = "the host name does not resolve to an address"


def listen_reason(exc: OSError) -> str:
    if isinstance(exc, socket.gaierror):
        return UNRESOLVABLE
    reasons = {
        errno.EADDRINUSE: "the port is already in use",
        errno.EACCES: "permission denied (ports below 1024 need privileges)",
        errno.EADDRNOTAVAIL: "the address is not one of this machine's",
    }
    return reasons.get(exc.errno or 0) or exc.strerror or type(exc).__name__


def listen(config: DevstackConfig, settings: CoreSettings) -> Sockets:
    """Hypercorn's listening sockets; an address that cannot be bound is a ServeError naming it."""
    try:
        return config.create_sockets()
    except OSError as exc:
        host = settings.host
        listeners = [(settings.port, "--port / DEVSTACK_PORT")]
        if settings.tls_enabled:
            listeners.append((settings.https_port, "--https-port / DEVSTACK_HTTPS_PORT"))
        for port, where in listeners:
            problem = bind_problem(host, port)
            if problem is not None:
                where = "--host / DEVSTACK_HOST" if problem == UNRESOLVABLE else where
                raise ServeError(f"cannot listen on {host}:{port} ({where}): {problem}") from None
        raise ServeError(f"cannot listen on {host} (--host / DEVSTACK_HOST): {listen_reason(exc)}") from None


def serve() -> int:
    settings = CoreSettings()
    configure_logging(settings.log_level)
    if not settings.instance_id:
        # one identity for this instance, read by the app of every worker (spawned ones
        # inherit the environment): they share its per-instance cache entries
        os.environ["DEVSTACK_INSTANCE_ID"] = new_instance_id()
    check_server(settings)
    prepare_multiprocess_metrics(settings)
    config = hypercorn_config(settings)
    if settings.workers > 1 and settings.rate_limit_enabled and settings.rate_limit_storage.startswith("memory"):
        log.warning(
            "rate limits use memory storage: each worker counts on its own; "
            "set DEVSTACK_RATE_LIMIT_STORAGE=redis://... for one budget",
            extra={"workers": settings.workers},
        )
    sockets = listen(config, settings)
    if settings.workers <= 1:
        run_worker(config, sockets)
        return 0
    return run_workers(config, sockets)
