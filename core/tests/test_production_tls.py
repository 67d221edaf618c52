"""TLS with a real ``devstack serve`` (Hypercorn and Granian): plain and HTTPS ports at once, TLS 1.2+, the
certificate from files or from the ``devstack_tls_certificate`` hook, and renewal on the
same SSL context (new handshakes get the new certificate)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import tempfile
import time
from pathlib import Path

import pytest
from production_support import get, make_certificate, server_env

from devstack.runtime import tls
from devstack.testing import ServerProcess, free_port

pytestmark = pytest.mark.slow


def handshake(port: int, maximum: ssl.TLSVersion | None = None) -> tuple[bytes, str]:
    """The server's certificate (DER) and the protocol of one new TLS connection."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if maximum is not None:
        context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        context.maximum_version = maximum
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
        assert der is not None
        return der, str(tls.version())


def https_get(port: int, path: str, cafile: Path) -> tuple[int, bytes]:
    import http.client

    context = ssl.create_default_context(cafile=str(cafile))
    connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
    try:
        connection.request("GET", path)
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


def der_of(cert: Path) -> bytes:
    return ssl.PEM_cert_to_DER_cert(cert.read_text())


def wait_for_certificate(port: int, expected: bytes, server_name: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if handshake(port)[0] == expected:
                return
        except (ssl.SSLError, ConnectionError):
            # Granian swaps its HTTPS listener on renewal: a handshake the old one had
            # begun is cut (documented in the README's server table); Hypercorn never
            if server_name != "granian":
                raise
        time.sleep(0.2)
    raise AssertionError("the listener did not switch to the renewed certificate")


def private_files() -> set[str]:
    return {name for name in os.listdir(tempfile.gettempdir()) if name.startswith("devstack-tls-")}


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
def test_files_both_ports_tls12_minimum_and_reload(tmp_path: Path, server_name: str) -> None:
    first_cert, first_key = make_certificate(tmp_path / "one", "server", "first")
    second_cert, second_key = make_certificate(tmp_path / "two", "server", "second")
    live_cert, live_key = tmp_path / "live.crt", tmp_path / "live.key"
    shutil.copy(first_cert, live_cert)
    shutil.copy(first_key, live_key)
    https_port = free_port()
    env = server_env(server_name, DEVSTACK_HTTPS_PORT=str(https_port), DEVSTACK_TLS_CHECK_INTERVAL="0.3")
    args = ["--tls", "--certfile", str(live_cert), "--keyfile", str(live_key)]
    with ServerProcess(env=env, args=args) as server:
        status, _headers, body = get(server.port, "/health/")  # plain HTTP still served
        assert (status, json.loads(body)) == (200, {"status": "ok"})
        status, body = https_get(https_port, "/health/", first_cert)  # verified against the certificate
        assert (status, json.loads(body)) == (200, {"status": "ok"})

        der, version = handshake(https_port)
        assert der == der_of(first_cert)
        assert version in ("TLSv1.2", "TLSv1.3")
        assert handshake(https_port, maximum=ssl.TLSVersion.TLSv1_2)[1] == "TLSv1.2"
        with pytest.raises((ssl.SSLError, ConnectionError)):
            handshake(https_port, maximum=ssl.TLSVersion.TLSv1_1)

        # a long-lived connection keeps its certificate, new handshakes get the new one
        shutil.copy(second_key, live_key)
        shutil.copy(second_cert, live_cert)
        wait_for_certificate(https_port, der_of(second_cert), server_name)
        status, _body = https_get(https_port, "/health/", second_cert)
        assert status == 200
    log = [json.loads(line) for line in server.log().splitlines() if line.strip()]
    assert any(entry["message"] == "TLS certificate renewed" for entry in log)
    running = [entry["message"] for entry in log if entry["message"].startswith("Running on")]
    assert sorted(running) == sorted(
        [
            f"Running on https://127.0.0.1:{https_port} (CTRL + C to quit)",
            f"Running on http://127.0.0.1:{server.port} (CTRL + C to quit)",
        ]
    )


def test_certificate_from_the_hook_renewed_in_its_window(tmp_path: Path, server_name: str) -> None:
    certificates = tmp_path / "issued"
    first_cert, _ = make_certificate(certificates, "1", "issued-first")
    second_cert, _ = make_certificate(certificates, "2", "issued-second")
    before = private_files()
    https_port = free_port()
    env = server_env(
        server_name,
        DEVSTACK_TLS_ENABLED="true",
        DEVSTACK_HTTPS_PORT=str(https_port),
        DEVSTACK_TLS_CHECK_INTERVAL="0.3",
        TESTKIT_CERT_DIR=str(certificates),
        TESTKIT_CERT_LIFETIME="4",  # renewal window: the last third, from 2.7 s on
    )
    with ServerProcess(env=env) as server:
        assert handshake(https_port)[0] == der_of(first_cert)
        assert private_files() == before  # no private key left on disk
        wait_for_certificate(https_port, der_of(second_cert), server_name)
        status, _body = https_get(https_port, "/health/", second_cert)
        assert status == 200
        assert private_files() == before
    log = [json.loads(line) for line in server.log().splitlines() if line.strip()]
    issued = [entry["certificate"] for entry in log if entry["message"] == "testkit issued a certificate"]
    assert issued[:2] == ["1", "2"]
    assert any(entry["message"] == "TLS certificate renewed" and entry["provider"] == "testkit" for entry in log)
    text = server.log()
    assert "PRIVATE KEY" not in text


def test_contexts_offer_tls_12_or_newer_only() -> None:
    context = tls.new_context()
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert context.options & ssl.OP_NO_COMPRESSION


def test_tls_without_any_certificate_fails_to_start(server_name: str) -> None:
    env = server_env(server_name, DEVSTACK_TLS_ENABLED="true", DEVSTACK_HTTPS_PORT=str(free_port()))
    process = ServerProcess(env=env)
    with pytest.raises(RuntimeError):
        process.start(timeout=20)
    assert process.stop() != 0
