"""Helpers for testing plugins against a real devstack application.

``running_app`` builds the app exactly as ``devstack serve`` does (entry-point
discovery, or plugin objects passed by hand), runs its startup and shutdown hooks, and
yields Quart's test client. ``ServerProcess`` runs ``devstack serve`` in a real Hypercorn
process for tests that need sockets (TLS, workers, signals, chunked bodies);
``raw_request`` sends it bytes exactly as written (hostile input) and
``parse_raw_response`` reads the answer.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from quart import Quart
from quart.typing import TestClientProtocol

from devstack.foundation.settings import CoreSettings
from devstack.plugin_system.registry import PluginRegistry
from devstack.runtime.app import create_app, state_of


@contextmanager
def environment(values: Mapping[str, str | None]) -> Iterator[None]:
    """Set (or, with None, remove) environment variables for the block."""
    saved = {key: os.environ.get(key) for key in values}
    try:
        for key, value in values.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@asynccontextmanager
async def running_app(
    *,
    env: Mapping[str, str | None] | None = None,
    plugins: Mapping[str, object] | None = None,
    discover: bool = True,
    strict: bool = True,
    **core_settings: Any,
) -> AsyncIterator[tuple[Quart, TestClientProtocol]]:
    """A started application and its test client.

    ``env`` is applied while the app is built and served (plugin settings read it).
    ``plugins`` registers extra plugin objects by name, beside the discovered ones
    (unless ``discover`` is False), all called in plugin-name order. Rate limiting is off unless asked for.
    """
    core_settings.setdefault("rate_limit_enabled", False)
    core_settings.setdefault("log_level", "INFO")
    core_settings.setdefault("strict_plugins", strict)
    with environment(env or {}):
        settings = CoreSettings(**core_settings)
        registry = PluginRegistry(
            strict=settings.strict_plugins,
            lifecycle_timeout=settings.plugin_lifecycle_timeout,
            trace=settings.trace_plugins,
        )
        if discover:
            registry.discover(settings.plugins, settings.disable_plugins, extra=plugins)
        else:
            for name, plugin in sorted((plugins or {}).items(), reverse=True):  # called in name order
                registry.register(plugin, name=name)
        app = create_app(settings, registry)
        async with app.test_app() as test_app:
            yield app, test_app.test_client()


def host_of(app: Quart) -> Any:
    """The app's Host (what hooks receive as ``host``)."""
    return state_of(app).host


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServerProcess:
    """``devstack serve`` in a child process, stopped (SIGTERM) on exit."""

    def __init__(
        self, env: Mapping[str, str] | None = None, args: list[str] | None = None, port: int | None = None
    ) -> None:
        self.port = port or free_port()
        self.env = {**os.environ, "DEVSTACK_PORT": str(self.port), **(env or {})}
        self.args = args or []
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> ServerProcess:
        import tempfile

        log = tempfile.NamedTemporaryFile(prefix="devstack-serve-", suffix=".log", delete=False)
        self.log_path = log.name
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devstack.cli", "serve", *self.args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"devstack serve exited with {self.process.returncode}: {self.log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/health/live", timeout=1) as answer:
                    if answer.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"devstack serve did not answer within {timeout}s: {self.log()}")

    def log(self) -> str:
        if self.log_path is None:
            return ""
        with open(self.log_path, encoding="utf-8", errors="replace") as handle:
            return handle.read()

    def stop(self, timeout: float = 20.0) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def raw_request(port: int, data: bytes, timeout: float = 10.0, half_close: bool = False) -> bytes:
    """Send bytes on a fresh TCP connection and read the whole answer (the server closes
    after it: every raw request says ``Connection: close``). ``half_close`` ends the
    client's side right after the bytes (a body shorter than its Content-Length)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server refused early (e.g. 413 before the whole body): read its answer
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        received = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                part = sock.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not part:
                break
            received += part
        return received


def parse_raw_response(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    if not lines or not lines[0].startswith("HTTP/"):
        return 0, {}, raw
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        decoded = b""
        rest = body
        while rest:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line.split(b";")[0] or b"0", 16)
            if size == 0:
                break
            decoded += rest[:size]
            rest = rest[size + 2 :]
        body = decoded
    return status, headers, body
