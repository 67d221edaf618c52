"""Unknown methods, Host and the served contract against a real ``devstack serve`` over raw
sockets (issue 12, findings 3, 7 and 8): no method a client invents grows ``/metrics`` or
writes a long log line; the contract's server is the address the document came from."""

from __future__ import annotations

import json
import random
import string
from collections.abc import Iterator
from urllib.parse import urljoin

import pytest
from production_support import get, server_env

from devstack.testing import ServerProcess, parse_raw_response, raw_request

pytestmark = pytest.mark.slow

LONGEST_LOG_LINE = 1024  # a request line holds at most 64 characters of the request's own text
TOKEN = string.ascii_uppercase + string.digits + "-_.!~"


@pytest.fixture(scope="module")
def server(server_name: str) -> Iterator[ServerProcess]:
    with ServerProcess(env=server_env(server_name)) as process:
        yield process


def raw_exchange(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    return parse_raw_response(raw_request(port, request))


def request_with(method: bytes, host: bytes = b"127.0.0.1", target: bytes = b"/health/") -> bytes:
    return method + b" " + target + b" HTTP/1.1\r\nHost: " + host + b"\r\nConnection: close\r\n\r\n"


def metrics_size(server: ServerProcess) -> int:
    status, _, body = get(server.port, "/metrics")
    assert status == 200
    return len(body)


def envelope(status: int, headers: dict[str, str], body: bytes) -> dict[str, object]:
    assert headers.get("content-type", "").startswith("application/json"), (status, headers, body[:200])
    answer: dict[str, object] = json.loads(body)
    assert answer["status_code"] == status
    return answer


def test_a_200_kb_method_is_a_405_envelope(server: ServerProcess) -> None:
    for method in (b"X" * 200_000, b"M-SEARCH", b"PROPFIND"):
        status, headers, body = raw_exchange(server.port, request_with(method))
        assert status == 405, (method[:20], status, body[:200])
        assert envelope(status, headers, body)["error"] == "MethodNotAllowedError"
    assert metrics_size(server) < 100_000, "the method became a metric label"


def test_a_flood_of_invented_methods_leaves_metrics_and_log_lines_bounded(server: ServerProcess) -> None:
    rng = random.Random(12)
    raw_exchange(server.port, request_with(b"WARMUP"))  # the one OTHER series is made here
    before = metrics_size(server)
    for _ in range(200):
        method = "".join(rng.choice(TOKEN) for _ in range(rng.randint(1000, 10_000))).encode()
        status, headers, body = raw_exchange(server.port, request_with(method, target=b"/no/such/path"))
        assert status == 405, (status, body[:200])
        envelope(status, headers, body)
    after = metrics_size(server)
    # counters gain digits, the /metrics requests themselves are counted: a few hundred bytes
    assert after - before < 2048, f"/metrics grew from {before} to {after} bytes"
    lines = server.log().splitlines()
    longest = max(lines, key=len)
    assert len(longest) <= LONGEST_LOG_LINE, longest[:300]
    request_lines = [json.loads(line) for line in lines if '"message": "request"' in line]
    assert sum(1 for line in request_lines if line["status"] == 405) >= 201


def test_methods_around_the_request_head_limit_are_refused_one_way_or_the_other(server: ServerProcess) -> None:
    """Hypercorn reads a head up to 256 KiB when it comes in pieces, more when it comes at
    once: whatever it hands on is a 405 envelope, the rest its own bare refusal."""
    for size in (300_000, 1_000_000):
        status, headers, body = raw_exchange(server.port, request_with(b"X" * size))
        if body:
            assert status == 405 and envelope(status, headers, body)["error"] == "MethodNotAllowedError"
        else:
            assert status in (0, 400, 413, 431), status
    assert max(len(line) for line in server.log().splitlines()) <= LONGEST_LOG_LINE


def test_a_host_not_served_is_a_400_envelope_over_sockets(server: ServerProcess) -> None:
    status, headers, body = raw_exchange(server.port, request_with(b"GET", host=b"rebound.evil.example"))
    assert status == 400 and envelope(status, headers, body)["error"] == "BadRequestError"
    forwarded = (
        b"GET /health/ HTTP/1.1\r\nHost: localhost\r\nX-Forwarded-Host: evil.example\r\nConnection: close\r\n\r\n"
    )
    assert raw_exchange(server.port, forwarded)[0] == 200, "X-Forwarded-Host of an untrusted peer is ignored"
    status, headers, _ = raw_exchange(server.port, request_with(b"GET", target=b"/health"))
    assert status == 308 and headers["location"] == "/health/"


def test_the_served_contract_points_at_the_instance_it_came_from(server: ServerProcess) -> None:
    status, _, body = get(server.port, "/openapi.json")
    assert status == 200
    document_url = f"{server.url}/openapi.json"
    servers = json.loads(body)["servers"]
    assert [urljoin(document_url, entry["url"]) for entry in servers] == [f"{server.url}/"], servers


def test_no_bad_input_above_left_a_traceback_in_the_log(server: ServerProcess) -> None:
    """Run last in this module: every hostile request above was answered without an
    exception escaping to the server's log."""
    text = server.log()
    assert "Traceback" not in text
    assert all(json.loads(line)["level"] != "ERROR" for line in text.splitlines() if line.strip())
