"""Against a real ``devstack serve`` process, on Hypercorn and on Granian: chunked bodies,
request-head limits, the server's log, graceful shutdown on SIGTERM."""

from __future__ import annotations

import http.client
import json
import signal
import socket
import threading
import time
from typing import Any

import pytest
from production_support import RUNNING_LOGGER, get, server_env

from devstack.testing import ServerProcess, parse_raw_response, raw_request

pytestmark = pytest.mark.slow


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response with a Content-Length from a raw socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before the headers: {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, headers, body


def chunked_post(port: int, total: int, chunk: int = 256 * 1024) -> tuple[tuple[int, dict[str, str], bytes], int]:
    """POST ``total`` bytes chunked (no Content-Length); returns the response and how many
    bytes could be sent before the server cut the upload off."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=15)
    sent = {"bytes": 0}

    def upload() -> None:
        try:
            sock.sendall(
                b"POST /testkit/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n"
            )
            piece = b"x" * chunk
            while sent["bytes"] < total:
                size = min(chunk, total - sent["bytes"])
                sock.sendall(b"%x\r\n" % size + piece[:size] + b"\r\n")
                sent["bytes"] += size
            sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # cut off by the server

    sender = threading.Thread(target=upload, daemon=True)
    sender.start()
    try:
        response = read_response(sock)
    finally:
        sender.join(5)
        sock.close()
    return response, sent["bytes"]


# hyper (inside Granian) refuses a request target over 65,534 bytes with a bare 414, a
# limit compiled into it (documented in the README's server table)
GRANIAN_LONGEST_TARGET = 65_534


@pytest.fixture(scope="module")
def server(server_name: str) -> Any:
    with ServerProcess(env=server_env(server_name)) as process:
        yield process


def test_chunked_body_within_the_limit_is_read(server: ServerProcess) -> None:
    (status, headers, body), _sent = chunked_post(server.port, 3 * 1024 * 1024)
    assert status == 200
    assert json.loads(body) == {"received": 3 * 1024 * 1024}
    assert headers["x-request-id"]


def test_chunked_body_over_10_mb_is_cut_off_with_413(server: ServerProcess) -> None:
    total = 64 * 1024 * 1024
    (status, headers, body), sent = chunked_post(server.port, total)
    assert status == 413
    envelope = json.loads(body)
    assert envelope["error"] == "PayloadTooLargeError"
    assert envelope["request_id"] == headers["x-request-id"]
    assert sent < total  # the server did not read the whole upload


def test_content_length_over_the_limit_is_refused_before_the_body(server: ServerProcess) -> None:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    try:
        sock.sendall(
            b"POST /testkit/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 20000000\r\n\r\n{"
        )
        status, _headers, body = read_response(sock)
    finally:
        sock.close()
    assert status == 413
    assert json.loads(body)["status_code"] == 413


def test_the_longest_request_line_the_contract_allows_is_read(server: ServerProcess, server_name: str) -> None:
    """Regression: a query value of 10,000 characters (what the cache example accepts),
    percent-encoded UTF-8, is a ~120 KB request line; Hypercorn's 16 KiB default answered
    it with a bare 431 before devstack saw it. A head over the raised limit still is.
    Granian reads request targets up to 64 KiB only: longer ones are its bare 414."""
    target = "/health/?value=" + "%F0%9F%98%80" * 10_000
    if server_name == "granian":
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        connection.request("GET", target)
        assert connection.getresponse().status == 414
        connection.close()
        target = target[:GRANIAN_LONGEST_TARGET]
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.request("GET", target)
    answer = connection.getresponse()
    assert answer.status == 200
    assert json.loads(answer.read()) == {"status": "ok"}
    connection.close()
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.request("GET", "/health/", headers={"X-Big": "a" * (1024 * 1024)})
    assert connection.getresponse().status == 431
    connection.close()


def test_a_client_hanging_up_mid_body_gets_no_500(server: ServerProcess, server_name: str) -> None:
    """A body shorter than its Content-Length, then the client's half-close: Quart ends the
    request unanswered. Hypercorn sends nothing, or (when h11 sees the close first) its own
    protocol-error 400 with no body; Granian would send its bare 500, devstack answers a
    400 envelope instead."""
    request = (
        b"POST /testkit/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b'Content-Length: 100\r\nConnection: close\r\n\r\n{"a": 1}'
    )
    status, _headers, body = parse_raw_response(raw_request(server.port, request, half_close=True))
    assert status in (0, 400), (status, body[:200])
    if status == 400 and (body or server_name != "hypercorn"):
        assert json.loads(body)["error"] == "BadRequestError"
    assert "Traceback" not in server.log()


def test_unsupported_media_type_over_http(server: ServerProcess) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.request("POST", "/testkit/echo", body=b"<x/>", headers={"Content-Type": "application/xml"})
    answer = connection.getresponse()
    assert answer.status == 415
    assert json.loads(answer.read())["error"] == "UnsupportedMediaTypeError"
    connection.close()


def test_every_log_line_is_json_and_the_server_logs_once(server: ServerProcess, server_name: str) -> None:
    get(server.port, "/health/", {"X-Request-ID": "log-check-1"})
    time.sleep(0.2)
    lines = [line for line in server.log().splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    running = [e for e in entries if e["message"].startswith("Running on http://")]
    assert len(running) == 1
    assert running[0]["logger"] == RUNNING_LOGGER[server_name]
    request_lines = [e for e in entries if e.get("request_id") == "log-check-1"]
    assert [e["message"] for e in request_lines] == ["request"]
    assert request_lines[0]["route"] == "/health/"


def test_shutdown_delay_keeps_serving_new_connections_while_not_ready(server_name: str) -> None:
    """DEVSTACK_SHUTDOWN_DELAY: after SIGTERM /health/ready answers 503 at once, yet new
    connections are still accepted and served until the delay is over; then the drain."""
    env = server_env(server_name, DEVSTACK_SHUTDOWN_DELAY="3", DEVSTACK_SHUTDOWN_GRACE="5")
    process = ServerProcess(env=env).start()
    try:
        assert process.process is not None
        signalled = time.monotonic()
        process.process.send_signal(signal.SIGTERM)
        time.sleep(1.0)  # without the delay the listener is closed by now (nothing in flight)
        assert get(process.port, "/health/ready")[0] == 503  # a new connection
        status, _headers, body = get(process.port, "/health/")
        assert (status, json.loads(body)) == (200, {"status": "ok"})
        assert process.process.poll() is None
        assert process.process.wait(15) == 0
        assert time.monotonic() - signalled >= 3.0
        messages = [json.loads(line)["message"] for line in process.log().splitlines() if line.strip()]
        waiting = messages.index("shutdown requested: not ready, serving until the delay is over")
        assert waiting < messages.index("shutdown requested: not ready, draining requests in flight")
    finally:
        process.stop()


def test_sigterm_drains_in_flight_requests_and_exits_zero(server_name: str) -> None:
    env = server_env(server_name, TESTKIT_SLOW_SECONDS="2", DEVSTACK_SHUTDOWN_GRACE="10")
    process = ServerProcess(env=env).start()
    try:
        assert process.process is not None
        keep_alive = http.client.HTTPConnection("127.0.0.1", process.port, timeout=10)
        keep_alive.request("GET", "/health/ready")
        first = keep_alive.getresponse()
        first.read()
        assert first.status == 200

        slow_result: dict[str, Any] = {}

        def slow_request() -> None:
            try:
                slow_result["answer"] = get(process.port, "/health/slow", timeout=15)
            except OSError as exc:  # pragma: no cover - reported by the assertion below
                slow_result["error"] = exc

        slow = threading.Thread(target=slow_request)
        slow.start()
        time.sleep(0.5)  # the slow request is in flight
        process.process.send_signal(signal.SIGTERM)
        time.sleep(0.2)

        keep_alive.request("GET", "/health/ready")  # on the connection opened before SIGTERM
        ready = keep_alive.getresponse()
        assert ready.status == 503
        assert json.loads(ready.read()) == {"status": "not_ready", "reason": "shutting_down", "failing": []}
        keep_alive.close()

        slow.join(15)
        assert "error" not in slow_result
        status, _headers, body = slow_result["answer"]
        assert status == 200
        assert json.loads(body) == {"status": "healthy"}

        assert process.process.wait(15) == 0
        log = [json.loads(line) for line in process.log().splitlines() if line.strip()]
        messages = [entry["message"] for entry in log]
        assert "testkit shutdown" in messages  # the plugins' shutdown hooks ran
        drained = messages.index("requests drained; closing")
        assert messages.index("shutdown requested: not ready, draining requests in flight") < drained
        assert drained < messages.index("testkit shutdown")
    finally:
        process.stop()


def test_a_request_still_running_after_the_grace_is_no_traceback_nor_a_500(server_name: str) -> None:
    """DEVSTACK_SHUTDOWN_GRACE over with a request in flight: the process still exits 0,
    the request is cut off with a 503 envelope (the servers' own answer was a bare 500),
    and the log holds no traceback."""
    env = server_env(server_name, TESTKIT_SLOW_SECONDS="8", DEVSTACK_SHUTDOWN_GRACE="1")
    process = ServerProcess(env=env).start()
    try:
        assert process.process is not None
        outcome: dict[str, Any] = {}

        def slow_request() -> None:
            try:
                outcome["answer"] = get(process.port, "/health/slow", timeout=15)
            except (OSError, http.client.HTTPException) as exc:
                outcome["error"] = exc

        slow = threading.Thread(target=slow_request)
        slow.start()
        time.sleep(0.5)  # in flight
        process.process.send_signal(signal.SIGTERM)
        assert process.process.wait(15) == 0
        slow.join(15)
        assert "error" not in outcome, outcome
        status, _headers, body = outcome["answer"]
        assert status == 503, (status, body[:200])
        assert json.loads(body)["details"]["reason"] == "shutting_down"
        assert "Traceback" not in process.log()
    finally:
        process.stop()
