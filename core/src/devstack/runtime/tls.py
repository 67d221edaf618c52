"""The HTTPS listener's certificate: where it comes from and how it is renewed.

With ``DEVSTACK_TLS_ENABLED=true`` ``devstack serve`` listens on the plain port and on
the HTTPS port at once. The certificate comes from the first plugin whose
``devstack_tls_certificate`` hook answers (the Vault plugin issues one from its PKI), or
else from ``DEVSTACK_TLS_CERT_FILE`` / ``DEVSTACK_TLS_KEY_FILE``. The hook is called in
every serving process (each worker) when it starts serving, after the plugins' startup.

No private key is written anywhere readable: a plugin's PEM text is written to 0600
files inside a fresh 0700 directory only for the duration of ``load_cert_chain`` (the
``ssl`` module loads certificates from paths only) and removed right after.

Renewal: the ``ssl.SSLContext`` Hypercorn serves with is kept, and ``load_cert_chain`` is
called again *on that same context*, so every new handshake gets the new certificate
while established connections keep theirs. Granian (rustls) loads the certificate when
its listener starts and holds no such context: its ``renewal_listeners`` get the new PEM
text and start a new listener on the same socket (see
:mod:`devstack.runtime.granian_server`). A plugin's certificate is renewed once it is
within its renewal window: the last ``DEVSTACK_TLS_RENEW_BEFORE`` seconds of its
lifetime, or its last third when that is shorter. Certificate files are reloaded when
either file changes on disk. Both are checked every ``DEVSTACK_TLS_CHECK_INTERVAL``
seconds. Only TLS 1.2 and newer are offered.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import ssl
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from devstack.foundation.errors import ApiError
from devstack.foundation.settings import CoreSettings
from devstack.plugin_system.registry import PluginRegistry

log = logging.getLogger("devstack.tls")

ALPN_PROTOCOLS = ["h2", "http/1.1"]
CIPHERS = "ECDHE+AESGCM"

_current: TlsManager | None = None
_failure: str | None = None


class TlsUnavailable(RuntimeError):
    """No certificate can be had; the message names the setting or file at fault."""


def current() -> TlsManager | None:
    """The certificate manager of the application served by this process."""
    return _current


def startup_failure() -> str | None:
    """Why this process could not obtain its first certificate (None: it did, or did not try)."""
    return _failure


def epoch(moment: datetime) -> float:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def file_signature(*paths: Path) -> tuple[tuple[int, int], ...]:
    signature = []
    for path in paths:
        stat = path.stat()
        signature.append((stat.st_mtime_ns, stat.st_size))
    return tuple(signature)


@contextmanager
def pem_files(certificate_pem: str, private_key_pem: str) -> Iterator[tuple[str, str]]:
    """The PEM text as 0600 files in a fresh 0700 directory, removed when the block ends
    (``ssl`` and Granian load certificates from paths only)."""
    directory = tempfile.mkdtemp(prefix="devstack-tls-")  # created 0700
    try:
        paths = []
        for name, text in (("cert.pem", certificate_pem), ("key.pem", private_key_pem)):
            path = os.path.join(directory, name)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w", encoding="ascii") as handle:
                handle.write(text)
            paths.append(path)
        yield paths[0], paths[1]
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def load_pem(context: ssl.SSLContext, certificate_pem: str, private_key_pem: str) -> None:
    """``load_cert_chain`` from PEM text, through 0600 files that exist only meanwhile."""
    with pem_files(certificate_pem, private_key_pem) as (certfile, keyfile):
        context.load_cert_chain(certfile=certfile, keyfile=keyfile)


def new_context(ciphers: str = CIPHERS, alpn: list[str] | None = None) -> ssl.SSLContext:
    """A server context as Hypercorn builds one, TLS 1.2 at least, no certificate yet."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.set_ciphers(ciphers)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.options |= ssl.OP_NO_COMPRESSION
    context.set_alpn_protocols(alpn or ALPN_PROTOCOLS)
    return context


class TlsManager:
    """Obtains the certificate, loads it into the served contexts and renews it."""

    def __init__(self, settings: CoreSettings, registry: PluginRegistry, host: Any) -> None:
        self.settings = settings
        self.registry = registry
        self.host = host
        self.contexts: list[ssl.SSLContext] = []
        self.source: str = ""
        self.provider: str | None = None
        self.certificate_pem = ""
        self.private_key_pem = ""
        self.not_after: float | None = None
        self.renew_at: float | None = None
        self.files_signature: tuple[tuple[int, int], ...] = ()
        self.renewals = 0
        # called after each renewal (Granian's listeners, which hold no ssl.SSLContext)
        self.renewal_listeners: list[Callable[[str, str], None]] = []
        self._task: asyncio.Task[None] | None = None

    # obtaining ------------------------------------------------------------------------
    async def from_plugins(self) -> bool:
        """Ask the plugins for a certificate; True when one answered."""
        try:
            provider, result = await self.registry.calls.first_answer("devstack_tls_certificate", host=self.host)
        except ApiError as exc:  # a provider whose backend is down: try the files
            log.error("TLS certificate provider unavailable", extra={"error_type": type(exc).__name__})
            return False
        if result is None:
            return False
        now = time.time()
        not_after = epoch(result.not_after)
        chain = result.certificate_pem.rstrip("\n") + "\n"
        if result.ca_chain_pem:
            chain += result.ca_chain_pem.rstrip("\n") + "\n"
        self.source, self.provider = "plugin", provider
        self.certificate_pem, self.private_key_pem = chain, result.private_key_pem
        self.not_after = not_after
        lifetime = max(0.0, not_after - now)
        self.renew_at = not_after - min(self.settings.tls_renew_before, lifetime / 3)
        log.info(
            "TLS certificate obtained",
            extra={"plugin": provider, "serial": result.serial, "not_after": result.not_after.isoformat()},
        )
        return True

    def from_files(self) -> bool:
        cert, key = self.settings.tls_cert_file, self.settings.tls_key_file
        if cert is None or key is None:
            return False
        self.source, self.provider = "files", None
        self.files_signature = file_signature(cert, key)
        return True

    def check_files(self) -> None:
        """Raise TlsUnavailable naming the first certificate file that cannot be read."""
        for setting, path in (("CERT", self.settings.tls_cert_file), ("KEY", self.settings.tls_key_file)):
            if path is None:
                continue
            try:
                with open(path, "rb"):
                    pass
            except OSError as exc:
                raise TlsUnavailable(
                    f"cannot read {path} (DEVSTACK_TLS_{setting}_FILE): {exc.strerror or type(exc).__name__}"
                ) from None

    async def start(self) -> None:
        """Obtain the first certificate (startup of the serving process); raises
        TlsUnavailable saying what is missing or does not load."""
        global _current, _failure
        try:
            if not await self.from_plugins():
                self.check_files()
                if not self.from_files():
                    raise TlsUnavailable(
                        "TLS is enabled (--tls / DEVSTACK_TLS_ENABLED) but there is no certificate: no plugin issued "
                        "one and DEVSTACK_TLS_CERT_FILE / DEVSTACK_TLS_KEY_FILE (--certfile / --keyfile) are not set"
                    )
            # fail now, not at the first handshake, when the material does not load
            try:
                self.load(new_context())
            except (OSError, ssl.SSLError) as exc:
                settings = self.settings
                source = (
                    f"plugin {self.provider}"
                    if self.source == "plugin"
                    else f"{settings.tls_cert_file} and {settings.tls_key_file}"
                )
                reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or type(exc).__name__
                raise TlsUnavailable(f"the TLS certificate from {source} does not load: {reason}") from None
        except TlsUnavailable as exc:
            _failure = str(exc)
            raise
        _current = self
        self._task = asyncio.get_running_loop().create_task(self.renewal_loop())

    async def stop(self) -> None:
        global _current
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        if _current is self:
            _current = None

    # loading --------------------------------------------------------------------------
    def load(self, context: ssl.SSLContext) -> None:
        if self.source == "plugin":
            load_pem(context, self.certificate_pem, self.private_key_pem)
        else:
            context.load_cert_chain(certfile=str(self.settings.tls_cert_file), keyfile=str(self.settings.tls_key_file))

    def context(self, ciphers: str = CIPHERS, alpn: list[str] | None = None) -> ssl.SSLContext:
        """A context for a listener, kept so that renewals reach it."""
        context = new_context(ciphers, alpn)
        self.load(context)
        self.contexts.append(context)
        return context

    def material(self) -> tuple[str, str]:
        """The certificate chain and private key as PEM text (for a server that loads
        them itself)."""
        if self.source == "plugin":
            return self.certificate_pem, self.private_key_pem
        cert, key = self.settings.tls_cert_file, self.settings.tls_key_file
        assert cert is not None and key is not None  # source "files"
        return cert.read_text(encoding="ascii"), key.read_text(encoding="ascii")

    def reload_contexts(self) -> None:
        for context in self.contexts:
            self.load(context)
        material = self.material() if self.renewal_listeners else ("", "")
        if self.renewal_listeners:
            load_pem(new_context(), *material)  # a listener must not get material that does not load
        self.renewals += 1
        for listener in self.renewal_listeners:
            listener(*material)

    # renewing -------------------------------------------------------------------------
    def due(self, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        if self.source == "plugin":
            return self.renew_at is not None and now >= self.renew_at
        if self.source == "files":
            cert, key = self.settings.tls_cert_file, self.settings.tls_key_file
            try:
                return cert is not None and key is not None and file_signature(cert, key) != self.files_signature
            except OSError:
                return False
        return False

    async def renew(self) -> bool:
        """Renew when due; True when the served contexts got a new certificate."""
        if not self.due():
            return False
        if self.source == "plugin":
            if not await self.from_plugins():
                log.warning("TLS certificate renewal failed; keeping the current one")
                return False
        else:
            if not self.from_files():
                return False
        try:
            self.reload_contexts()
        except (OSError, ssl.SSLError) as exc:
            log.error("TLS certificate could not be loaded", extra={"error_type": type(exc).__name__})
            return False
        log.info("TLS certificate renewed", extra={"source": self.source, "provider": self.provider})
        return True

    async def renewal_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.tls_check_interval)
            try:
                await self.renew()
            except Exception as exc:  # noqa: BLE001 - keep serving with the current certificate
                log.error("TLS renewal check failed", extra={"error_type": type(exc).__name__})
