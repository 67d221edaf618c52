"""Hostile requests against every route of the merged contract, on a real ``devstack
serve`` over raw sockets (so that nothing between the test and the server tidies the
bytes up): injection strings, traversal and encoded slashes in every path parameter,
injection strings and absurd numbers in every query parameter, malformed, deeply nested,
oversized and chunked bodies with right, wrong and missing content types, huge and
hostile headers, invalid UTF-8 everywhere; bodies nested just over and at core's depth
bound (DEVSTACK_MAX_BODY_DEPTH), methods nobody defined (405 before any metric label is
made from them), Host names this server does not serve (400; DNS rebinding) and an
X-Forwarded-Host from a peer that is no trusted proxy (ignored).

Every answer must be a JSON error envelope with a 4xx status, or a 2xx the operation
documents; never a 5xx. Requests that are not valid HTTP/1.1 at all (a header section
over Hypercorn's limit, a missing Host, raw non-ASCII bytes in the request line, a broken
chunk size) are refused by the HTTP server before any application code runs: those get
its bare 400/431, which is checked as such. No answer and no line of the server's log
may hold an exception text, a stack trace or a credential.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import pytest

from devstack.contract import operations
from devstack.foundation.settings import CoreSettings
from devstack.http.admission import KNOWN_METHODS, OTHER_METHOD
from devstack.testing import ServerProcess, parse_raw_response, raw_request

from .support import (
    best_effort,
    contract,
    delete_cache_keys,
    delete_mongo_records,
    delete_queue,
    delete_records,
    delete_vault_secret,
    env_value,
    http_json,
    leaks_in,
    rabbit_queues,
    server_env,
    unique,
    vault_secrets,
    wait_healthy,
)

RUN = unique("hostile")
CACHE_PREFIX = f"{RUN}:"
QUEUE = f"{RUN}.q"
SECRET = f"{RUN}-svc"
RECORD_KEY = f"{RUN}.k"
DOCUMENT = contract()

INJECTIONS = [
    "' OR '1'='1",
    "1' OR 1=1 --",
    "x'); SELECT 1; --",
    '" OR ""="',
    "1 UNION SELECT NULL, version()--",
    "admin'/*",
    '{"$gt": ""}',
    '{"$where": "1 == 1"}',
    "$ne",
    "[$ne]",
    "';return true;var a='",
    '{"$regex": ".*"}',
    "*",
    "**",
    "?",
    "[a-z]*",
    "\\*",
    "{a,b}",
    "[^a]",
    "*" * 200,
    "h?llo*[0-9]",
    "%",
    "_",
    "\x00",
    "\r\nX-Injected: 1",
    "<script>alert(1)</script>",
    "${jndi:ldap://127.0.0.1/a}",
    "{{7*7}}",
    "../../etc/passwd",
    "..\\..\\windows\\win.ini",
    "/etc/passwd",
    "ü",
    "\U0001f600",
    "\u202e",
    "A" * 5000,
    " ",
    "",
    "amq.devstack-test",
    "amq.gen-abc",
]
NUMBERS = [
    "-1",
    "0",
    "-0",
    "1.5",
    "1e3",
    "99999999999999999999",
    "9223372036854775808",
    "-9223372036854775809",
    "2147483648",
    "NaN",
    "Infinity",
    "-Infinity",
    "0x10",
    "1_000",
    " 1",
    "+1",
    "true",
    "null",
    "[]",
    "1,2",
]
# Already percent-encoded (or deliberately raw) path segments.
RAW_SEGMENTS = [
    "..",
    "%2e%2e",
    "..%2F..%2Fetc%2Fpasswd",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "a%2Fb",
    "a%5Cb",
    "%252F",
    "%00",
    "%ff%fe",
    "%ED%A0%80",
    "%C0%AF",
    "a/../b",
    "./x",
    "%20",
    "a;b",
    "a%3Fb",
    "a%23b",
]
JSON_LITERALS = ["-1", "0", "1e400", "-1e400", "123456789012345678901234567890", "1.5", "true", "null", "[]", "{}"]

SAMPLE_PATH = {
    "service_name": SECRET,
    "key": "hostilekey1",
    "version": "1",
    "queue_name": QUEUE,
    "node_name": "redis-1",
    "pattern": "hostile*",
    "filename": "swagger-ui.css",
}
SAMPLE_QUERY = {"limit": "5", "offset": "0", "value": "v", "ttl": "60", "max": "1", "wait_ms": "0", "queue_name": QUEUE}
SAMPLE_BODY: dict[str, Any] = {
    "/examples/database/postgres": {"key": RECORD_KEY, "value": {"n": 1}},
    "/examples/database/mysql": {"key": RECORD_KEY, "value": {"n": 1}},
    "/examples/database/mongodb": {"key": RECORD_KEY, "value": {"n": 1}},
    "/examples/vault/secret/{service_name}": {"field": "value"},
    "/examples/vault/transit/encrypt": {"plaintext": "hello"},
    "/examples/vault/transit/decrypt": {"ciphertext": "vault:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
    "/examples/messaging/publish": {"hello": "world"},
}
TRANSPORT_STATUSES = {400, 431}
MAX_DEPTH: int = CoreSettings.model_fields["max_body_depth"].default
TOO_DEEP = "json_too_deep"
HOST_REFUSAL = "DEVSTACK_ALLOWED_HOSTS"  # in the message of the 400 for a Host not served
UNKNOWN_METHODS = ["PROPFIND", "TRACE", "X" * 5000]
FOREIGN_HOSTS = [b"rebind.evil.example", b"evil.example:8001", b"127.0.0.2", b"localhost.evil.example"]
LONGEST_LOG_LINE = 4096


@dataclass
class Probe:
    label: str
    method: str
    path: str  # the OpenAPI path of the operation probed ("" when none)
    target: bytes
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes | None = None
    chunks: list[bytes] | None = None
    transport: bool = False  # refused by the HTTP server itself (not valid HTTP/1.1)
    raw: bytes | None = None  # the whole request as is (overrides everything above)
    half_close: bool = False  # the client stops sending after the request (short body)
    host: bytes = b"127.0.0.1"
    status: int | None = None  # the one status this request must get
    error_type: str | None = None  # the validation error type it must get (with status 422)
    not_refused_for: str | None = None  # it must not be refused for this (TOO_DEEP, HOST_REFUSAL)

    def request(self) -> bytes:
        if self.raw is not None:
            return self.raw
        lines = [self.method.encode() + b" " + self.target + b" HTTP/1.1", b"Host: " + self.host]
        names = {name.lower() for name, _ in self.headers}
        lines += [name + b": " + value for name, value in self.headers]
        if self.chunks is not None:
            lines.append(b"Transfer-Encoding: chunked")
        elif self.body is not None and b"content-length" not in names:
            lines.append(b"Content-Length: " + str(len(self.body)).encode())
        lines.append(b"Connection: close")
        head = b"\r\n".join(lines) + b"\r\n\r\n"
        if self.chunks is not None:
            return head + b"".join(b"%x\r\n" % len(chunk) + chunk + b"\r\n" for chunk in self.chunks) + b"0\r\n\r\n"
        return head + (self.body or b"")


def operation(method: str, path: str) -> dict[str, Any]:
    found: dict[str, Any] = DOCUMENT["paths"][path][method.lower()]
    return found


def resolve(node: Any) -> Any:
    if isinstance(node, dict) and "$ref" in node:
        target: Any = DOCUMENT
        for part in node["$ref"][2:].split("/"):
            target = target[part]
        return resolve(target)
    return node


def parameters(method: str, path: str) -> list[dict[str, Any]]:
    item = DOCUMENT["paths"][path]
    found = {}
    for param in [*item.get("parameters", []), *operation(method, path).get("parameters", [])]:
        param = resolve(param)
        found[(param["name"], param["in"])] = param
    return list(found.values())


def fill(path: str, values: dict[str, str]) -> str:
    return re.sub(r"\{([^}]+)\}", lambda m: values[m.group(1)], path)


def encode(value: str) -> str:
    return quote(value, safe="")


def target_for(path: str, path_values: dict[str, str], query: dict[str, str] | None) -> bytes:
    encoded = {name: encode(value) for name, value in path_values.items()}
    text = fill(path, encoded)
    if query:
        text += "?" + "&".join(f"{encode(k)}={encode(v)}" for k, v in query.items())
    return text.encode("ascii")


def default_query(method: str, path: str) -> dict[str, str]:
    return {
        p["name"]: SAMPLE_QUERY.get(p["name"], "1")
        for p in parameters(method, path)
        if p["in"] == "query" and p.get("required")
    }


def default_path(method: str, path: str) -> dict[str, str]:
    return {p["name"]: SAMPLE_PATH.get(p["name"], "x1") for p in parameters(method, path) if p["in"] == "path"}


def json_headers() -> list[tuple[bytes, bytes]]:
    return [(b"Content-Type", b"application/json")]


def nested_value(depth: int, kind: str) -> str:
    """A JSON value nesting ``depth`` arrays or objects."""
    if kind == "arrays":
        return "[" * depth + "1" + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


def body_of_depth(sample: Any, depth: int, kind: str) -> bytes:
    """The operation's sample body with a value inside it, nesting ``depth`` levels in all
    (the sample's object included): in ``value`` when the sample has one (the records'
    any-JSON field), else in an extra field ``x``."""
    field_name = "value" if isinstance(sample, dict) and "value" in sample else "x"
    rest = {k: v for k, v in (sample or {}).items() if k != field_name}
    text = json.dumps({**rest, field_name: "@@"}).replace('"@@"', nested_value(depth - 1, kind))
    return text.encode()


def admission_probes(probe: Any, target: bytes, base_headers: list[tuple[bytes, bytes]]) -> None:
    """Methods nobody defined, Host names this server does not serve, and an
    X-Forwarded-Host from a peer that is no trusted proxy (ignored), on one operation."""
    for method in UNKNOWN_METHODS:
        probe(f"unknown method {method[:12]}", target=target, method=method, status=405)
    for host in FOREIGN_HOSTS:
        probe(f"Host {host[:30]!r}", target=target, host=host, status=400)
    probe(
        "X-Forwarded-Host from an untrusted peer",
        target=target,
        headers=[*base_headers, (b"X-Forwarded-Host", b"evil.example")],
        not_refused_for=HOST_REFUSAL,
    )
    probe("Host localhost", target=target, host=b"localhost", not_refused_for=HOST_REFUSAL)


def build_probes() -> list[Probe]:
    probes: list[Probe] = []
    for method, path in operations(DOCUMENT):
        op = operation(method, path)
        valid_path = default_path(method, path)
        valid_query = default_query(method, path)
        body_sample = SAMPLE_BODY.get(path)
        body_bytes = json.dumps(body_sample).encode() if body_sample is not None else None
        base_headers = json_headers() if body_bytes is not None else []
        name = f"{method} {path}"

        def probe(
            label: str,
            _op: tuple[str, str, str] = (name, method, path),
            _defaults: tuple[list[tuple[bytes, bytes]], bytes | None] = (base_headers, body_bytes),
            **kwargs: Any,
        ) -> None:
            kwargs.setdefault("headers", list(_defaults[0]))
            kwargs.setdefault("body", _defaults[1])
            method_ = kwargs.pop("method", _op[1])
            probes.append(Probe(f"{_op[0]} {label}", method_, _op[2], **kwargs))

        # path parameters: every hostile value in every parameter, the others valid
        for param in [p for p in parameters(method, path) if p["in"] == "path"]:
            for value in INJECTIONS + NUMBERS:
                values = {**valid_path, param["name"]: value}
                probe(f"path {param['name']}={value[:20]!r}", target=target_for(path, values, valid_query))
            for segment in RAW_SEGMENTS:
                encoded = {k: encode(v) for k, v in valid_path.items()}
                encoded[param["name"]] = segment
                target = fill(path, encoded)
                if valid_query:
                    target += "?" + "&".join(f"{k}={encode(v)}" for k, v in valid_query.items())
                probe(f"path {param['name']} raw {segment!r}", target=target.encode())
        # query parameters: every hostile value, repeated, bracketed, unknown
        for param in [p for p in parameters(method, path) if p["in"] == "query"]:
            for value in INJECTIONS + NUMBERS:
                query = {**valid_query, param["name"]: value}
                probe(f"query {param['name']}={value[:20]!r}", target=target_for(path, valid_path, query))
            base = target_for(path, valid_path, valid_query).decode()
            joiner = "&" if "?" in base else "?"
            for extra in (
                f"{param['name']}=1&{param['name']}=2",
                f"{param['name']}[$gt]=0",
                f"{param['name']}[]=1",
                f"{param['name']}=%ff%fe",
                f"{param['name']}=%00",
            ):
                probe(f"query extra {extra!r}", target=(base + joiner + extra).encode())
        target = target_for(path, valid_path, valid_query)
        probe("unknown query", target=target + (b"&" if b"?" in target else b"?") + b"x%27%22=%2A&__proto__=1")
        # headers
        probe(
            "hostile request id",
            target=target,
            headers=[*base_headers, (b"X-Request-ID", b"' OR 1=1; <script>" + b"A" * 300)],
        )
        probe(
            "header with percent-encoded CRLF",
            target=target,
            headers=[*base_headers, (b"X-Request-ID", b"a%0d%0aSet-Cookie:%20x=1")],
        )
        probe(
            "hostile forwarded-for and origin",
            target=target,
            headers=[
                *base_headers,
                (b"X-Forwarded-For", b"' OR 1=1, 999.999.1.1, ::g"),
                (b"Origin", b"null"),
                (b"Accept", b"*/*;q=x"),
            ],
        )
        probe("2000 headers", target=target, headers=[*base_headers, *[(b"X-H%d" % i, b"v") for i in range(2000)]])
        probe("non-ascii header value", target=target, headers=[*base_headers, (b"X-Name", "zürich ü".encode())])
        probes.append(
            Probe(
                f"{name} 300 KB header", method, path, target, [(b"X-Big", b"a" * 300_000)], body_bytes, transport=True
            )
        )
        probes.append(
            Probe(
                f"{name} raw non-UTF-8 target",
                method,
                path,
                target + b"\xff\xfe",
                base_headers,
                body_bytes,
                transport=True,
            )
        )
        # bodies
        if "requestBody" in op:
            limit = int(op.get("x-max-body-bytes", 10 * 1024 * 1024))
            for kind in ("arrays", "objects"):
                probe(
                    f"{kind} nested {MAX_DEPTH + 1} deep",
                    target=target,
                    body=body_of_depth(body_sample, MAX_DEPTH + 1, kind),
                    status=422,
                    error_type=TOO_DEEP,
                )
                probe(
                    f"{kind} nested {MAX_DEPTH} deep",
                    target=target,
                    body=body_of_depth(body_sample, MAX_DEPTH, kind),
                    not_refused_for=TOO_DEEP,
                )
            for label, raw in [
                ("empty body", b""),
                ("truncated JSON", b'{"key": '),
                ("trailing comma", b'{"a": 1,}'),
                ("single quotes", b"{'a': 1}"),
                ("bare word", b"nul"),
                ("NaN literal", b'{"a": NaN}'),
                ("Infinity literal", b'{"a": Infinity}'),
                ("huge exponent", b'{"a": 1e999999}'),
                ("invalid UTF-8", b'{"a": "\xff\xfe"}'),
                ("lone surrogate", b'{"a": "\\ud800"}'),
                ("NUL bytes", b'{"a": "\\u0000"}\x00'),
                ("UTF-8 BOM", b'\xef\xbb\xbf{"a": 1}'),
                ("duplicate keys", b'{"a": 1, "a": 2}'),
                ("array", b"[1, 2, 3]"),
                ("string", b'"text"'),
                ("number", b"12"),
                ("deep arrays", b"[" * 100_000 + b"]" * 100_000),
                ("deep, just past the parser", b"[" * 990 + b"]" * 990),
                ("deep objects", b'{"a":' * 20_000 + b"1" + b"}" * 20_000),
                (
                    "deep inside a valid body",
                    json.dumps(body_sample)[:-1].encode() + b', "x": ' + b"[" * 5_000 + b"]" * 5_000 + b"}",
                ),
                ("deep, just under the limit", b"[" * (limit // 2 - 1) + b"]" * (limit // 2 - 1)),
            ]:
                probe(label, target=target, body=raw)
            for content_type in [
                None,
                b"text/plain",
                b"application/xml",
                b"application/x-www-form-urlencoded",
                b"multipart/form-data; boundary=x",
                b"application/json; charset=latin-1",
                b"application/json" + b"x" * 5000,
                b"image/png",
                b"*/*",
            ]:
                headers = [] if content_type is None else [(b"Content-Type", content_type)]
                probe(f"content type {content_type[:30] if content_type else None!r}", target=target, headers=headers)
            probe(
                "form body",
                target=target,
                headers=[(b"Content-Type", b"application/x-www-form-urlencoded")],
                body=b"key=a&value=b",
            )
            probe(
                "NUL in the content type",
                target=target,
                headers=[(b"Content-Type", b"application/json\x00")],
                transport=True,
            )
            probe("one byte over the limit", target=target, body=b'"' + b"a" * (limit - 1) + b'"')
            probe(
                "content-length lies (shorter body)",
                target=target,
                headers=[*base_headers, (b"Content-Length", b"100")],
                body=b'{"a": 1}',
                half_close=True,
            )
            probe(
                "content-length negative",
                target=target,
                headers=[*base_headers, (b"Content-Length", b"-1")],
                body=b"",
                transport=True,
            )
            probe("chunked valid body", target=target, body=None, chunks=[body_bytes[:5], body_bytes[5:]])
            probe(
                "chunked over the limit", target=target, body=None, chunks=[b'"' + b"a" * 65536] * (limit // 65536 + 2)
            )
            probe(
                "chunked broken size",
                target=target,
                body=None,
                transport=True,
                raw=b"POST " + target + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
            )
            schema = resolve(op["requestBody"]["content"].get("application/json", {}).get("schema", {}))
            fields = list((schema.get("properties") or {}).keys()) or ["anything"]
            for name_ in fields:
                for value in INJECTIONS:
                    body = {**(body_sample or {}), name_: value}
                    probe(f"body {name_}={value[:20]!r}", target=target, body=json.dumps(body).encode())
                for literal in JSON_LITERALS:
                    raw = json.dumps({**(body_sample or {}), name_: "@@"}).replace('"@@"', literal)
                    probe(f"body {name_}={literal}", target=target, body=raw.encode())
            for value in INJECTIONS[:12]:
                probe(
                    f"body key {value[:20]!r}",
                    target=target,
                    body=json.dumps({**(body_sample or {}), value: "x"}).encode(),
                )
        else:
            probe("unexpected JSON body", target=target, headers=json_headers(), body=b'{"a": 1}')
            probe("unexpected broken body", target=target, headers=json_headers(), body=b"{")
            probe("unexpected XML body", target=target, headers=[(b"Content-Type", b"application/xml")], body=b"<a/>")
        probe("wrong method", target=target)
        probes[-1].method = "PATCH"
        admission_probes(probe, target, base_headers)
    # requests that match no route, and requests that are not HTTP/1.1
    for label, target in [
        ("dot segments", b"/examples/../../etc/passwd"),
        ("double slash", b"//health//"),
        ("absolute form", b"http://127.0.0.1/health/"),
        ("asterisk", b"*"),
        ("encoded traversal", b"/docs/assets/..%2F..%2F..%2Fetc%2Fpasswd"),
        ("long path", b"/" + b"a" * 8000),
        ("unknown", b"/wp-admin/install.php?x=%27"),
    ]:
        probes.append(Probe(f"no route: {label}", "GET", "", target))
    probes.append(
        Probe("no Host", "GET", "", b"", transport=True, raw=b"GET /health/ HTTP/1.1\r\nConnection: close\r\n\r\n")
    )
    probes.append(Probe("garbage request line", "GET", "", b"", transport=True, raw=b"GARBAGE\r\n\r\n"))
    probes.append(Probe("HTTP/1.0", "GET", "", b"", raw=b"GET /health/ HTTP/1.0\r\n\r\n"))
    return probes


PROBES = build_probes()


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    queues_before, secrets_before = rabbit_queues(), vault_secrets()
    env = server_env(
        REDIS_EXAMPLES_PREFIX=CACHE_PREFIX,
        RABBITMQ_CONNECTION_NAME=RUN,
        POSTGRES_APPLICATION_NAME=RUN,
    )
    process = ServerProcess(env=env).start(timeout=60)
    try:
        wait_healthy(process.url)
        yield process
    finally:
        process.stop()
        ours = {*INJECTIONS, *NUMBERS, QUEUE, SECRET}
        best_effort(
            (delete_queue, *sorted((rabbit_queues() - queues_before) & ours)),
            *[(delete_vault_secret, name) for name in sorted((vault_secrets() - secrets_before) & ours)],
            (delete_cache_keys, CACHE_PREFIX),
            (delete_records, RUN),
            (delete_mongo_records, RUN),
        )


def documented_2xx(probe: Probe) -> set[int]:
    if not probe.path:
        return set()
    try:
        responses = operation(probe.method, probe.path)["responses"]
    except KeyError:
        return set()
    return {int(status) for status in responses if status.startswith("2")}


def expectation_problems(probe: Probe, status: int, body: bytes) -> list[str]:
    """What a probe with a stated answer got wrong."""
    found = []
    if probe.status is not None and status != probe.status:
        found.append(f"{status} instead of {probe.status}: {body[:200]!r}")
    if probe.error_type is not None and f'"type":"{probe.error_type}"'.encode() not in body:
        found.append(f"no {probe.error_type} error: {body[:200]!r}")
    refusals = {TOO_DEEP: (422, f'"type":"{TOO_DEEP}"'.encode()), HOST_REFUSAL: (400, HOST_REFUSAL.encode())}
    if probe.not_refused_for is not None:
        refused_status, refused_text = refusals[probe.not_refused_for]
        if status == refused_status and refused_text in body:
            found.append(f"refused for {probe.not_refused_for}: {body[:200]!r}")
    return found


def problems_with(probe: Probe, raw: bytes) -> list[str]:
    status, headers, body = parse_raw_response(raw)
    found = [f"leak: {leak}" for leak in leaks_in(raw.decode("latin-1"))]
    found += expectation_problems(probe, status, body)
    if status == 0:
        if probe.half_close:
            return found  # the client hung up mid-body: nothing to answer
        return [*found, "no HTTP answer"]
    if status >= 500:
        return [*found, f"{status}: {body[:300]!r}"]
    if (probe.transport or probe.half_close) and status in TRANSPORT_STATUSES and not body:
        # Hypercorn's own refusal of a request that is not HTTP/1.1, or of one whose client
        # hung up mid-body (depending on timing it sees the end of the stream before the
        # application reads the body): nobody is left to read an envelope
        return found
    if 200 <= status < 300:
        if status not in documented_2xx(probe) and probe.path:
            found.append(f"{status} is not a documented answer of {probe.method} {probe.path}")
        return found
    if not 400 <= status < 500:
        return [*found, f"unexpected status {status}"]
    try:
        envelope = json.loads(body)
    except ValueError:
        return [*found, f"{status} without a JSON envelope: {body[:200]!r}"]
    if not isinstance(envelope, dict) or not {"error", "message", "status_code", "request_id"} <= set(envelope):
        found.append(f"{status} body is not the error envelope: {body[:200]!r}")
    elif envelope["status_code"] != status:
        found.append(f"envelope says {envelope['status_code']}, status line {status}")
    if not headers.get("content-type", "").startswith("application/json"):
        found.append(f"{status} envelope served as {headers.get('content-type')!r}")
    return found


def test_every_hostile_request_gets_a_4xx_envelope_or_a_documented_2xx(server: ServerProcess) -> None:
    failures: list[str] = []
    statuses: dict[int, int] = {}
    for probe in PROBES:
        raw = raw_request(server.port, probe.request(), timeout=15, half_close=probe.half_close)
        status = parse_raw_response(raw)[0]
        statuses[status] = statuses.get(status, 0) + 1
        failures += [f"{probe.label}: {problem}" for problem in problems_with(probe, raw)]
    covered = {(p.method, p.path) for p in PROBES if p.path and p.method != "PATCH" and p.method in KNOWN_METHODS}
    assert covered >= set(operations(DOCUMENT)), "an operation got no probe"
    assert server.process is not None and server.process.poll() is None, "devstack died"
    summary = ", ".join(f"{status}: {count}" for status, count in sorted(statuses.items()))
    print(f"\n{len(PROBES)} hostile requests over {len(covered)} operations; statuses {summary}")
    assert not failures, f"{len(failures)} of {len(PROBES)} answers are wrong:\n" + "\n".join(failures[:60])
    server_5xx = sum(count for status, count in statuses.items() if status >= 500)
    assert server_5xx == 0
    log = server.log()
    leaks = leaks_in(log)
    assert not leaks, f"the server log holds: {leaks[:5]}"
    longest = max(log.splitlines(), key=len)
    assert len(longest) <= LONGEST_LOG_LINE, f"a log line of {len(longest)} characters: {longest[:300]}"
    metrics = parse_raw_response(
        raw_request(server.port, b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    )[2]
    labels = set(re.findall(rb'method="([^"]*)"', metrics))
    assert labels <= {m.encode() for m in {*KNOWN_METHODS, OTHER_METHOD}}, sorted(label[:20] for label in labels)


# masking: by name pattern, at any depth, URL passwords; the secrets devstack reads ----------
MASKED_SECRET = f"{RUN}-masked"
CREDENTIAL_NAMES = ["pass", "passwd", "pwd", "secret", "secret_id", "api_key", "private_key", "keys", "Db_Password"]
PROTECTED = ["postgres", "mysql", "mongodb", "rabbitmq", "redis-1", "redis-2", "redis-3"]


def vault_put(name: str, data: dict[str, Any]) -> None:
    """Write a secret straight into Vault (root token), as an operator would."""
    addr = env_value("VAULT_ADDR").rstrip("/")
    status, _ = http_json(
        "POST", f"{addr}/v1/secret/data/{name}", {"data": data}, headers={"X-Vault-Token": env_value("VAULT_TOKEN")}
    )
    assert status == 200


def get_raw(server: ServerProcess, target: str, method: str = "GET", body: bytes | None = None) -> bytes:
    probe = Probe(target, method, "", target.encode(), json_headers() if body else [], body)
    return raw_request(server.port, probe.request(), timeout=15)


def test_secret_reads_never_show_a_credential(server: ServerProcess) -> None:
    values = {name: f"{RUN}-{index}-cred" for index, name in enumerate(CREDENTIAL_NAMES)}
    nested = {"host": "db", "password": f"{RUN}-nested-cred", "more": [{"token": f"{RUN}-deep-cred"}]}
    vault_put(
        MASKED_SECRET, {**values, "user": "visible", "db": nested, "dsn": f"redis://:{RUN}-url-cred@127.0.0.1:1/0"}
    )
    try:
        base = f"/examples/vault/secret/{MASKED_SECRET}"
        answers = [get_raw(server, target) for target in (base, f"{base}/versions/1", f"{base}/dsn", f"{base}/db")]
        answers += [get_raw(server, f"{base}/{name}") for name in CREDENTIAL_NAMES]
        text = b"".join(answers).decode("utf-8", "replace")
        assert [status for status, _, _ in map(parse_raw_response, answers)] == [200] * len(answers)
        assert f"{RUN}-" not in text.replace(MASKED_SECRET, ""), "a credential came back"
        assert '"user":"visible"' in text.replace(" ", "")
        assert f"{RUN}-" not in server.log().replace(MASKED_SECRET, "")
    finally:
        best_effort((delete_vault_secret, MASKED_SECRET))


def test_secrets_devstack_reads_are_never_written_nor_shown(server: ServerProcess) -> None:
    body = json.dumps({"password": "hijack"}).encode()
    for name in PROTECTED:
        refused = get_raw(server, f"/examples/vault/secret/{name}", "POST", body)
        status, _, answer = parse_raw_response(refused)
        assert status == 403, name
        assert json.loads(answer)["error"] == "ForbiddenError"
        status, _, answer = parse_raw_response(get_raw(server, f"/examples/vault/secret/{name}"))
        assert status == 200, name
        assert set(json.loads(answer)["data"].values()) == {"***"}, name
        assert leaks_in(answer.decode()) == []
