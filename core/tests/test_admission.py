"""The pipeline's first step (issue 12, findings 3 and 7): an unknown method is a 405
envelope before any metric label or log field is made from it, and a Host this server
does not serve is a 400 envelope before rate limits, API keys and the handler. In process
here; test_admission_server.py sends the same over real sockets."""

from __future__ import annotations

from typing import Any

import pytest

from devstack.http.admission import AllowedHosts, bounded, host_name
from devstack.testing import running_app

ENVELOPE = {"error", "message", "status_code", "request_id"}
UNKNOWN_METHODS = ["PROPFIND", "TRACE", "M-SEARCH", "X" * 5000]  # the test client upper-cases
ALLOW = {
    "/health/": "GET, HEAD, OPTIONS",
    "/metrics": "GET, HEAD, OPTIONS",
    "/": "GET, HEAD, OPTIONS",
    "/no/such/path": "",
}


async def status_and_body(answer: Any) -> tuple[int, Any]:
    return answer.status_code, await answer.get_json()


@pytest.mark.parametrize("path", ["/health/", "/metrics", "/no/such/path", "/"])
async def test_unknown_methods_are_a_405_envelope_with_one_bounded_label(path: str) -> None:
    async with running_app(discover=False) as (_, client):
        for method in UNKNOWN_METHODS:
            answer = await client.open(path, method=method)
            status, body = await status_and_body(answer)
            assert status == 405 and set(body) == ENVELOPE, (method[:20], status, body)
            assert body["error"] == "MethodNotAllowedError"
            assert answer.headers["Allow"] == ALLOW[path], "Allow names the path's methods (none: no route)"
        metrics = (await (await client.get("/metrics")).get_data()).decode()
        labels = {line.split('method="', 1)[1].split('"', 1)[0] for line in metrics.splitlines() if 'method="' in line}
        assert labels <= {"GET", "OTHER"}, sorted(label[:20] for label in labels)
        assert f'http_requests_total{{endpoint="unmatched",method="OTHER",status="405"}} {len(UNKNOWN_METHODS)}.0' in (
            metrics
        )


HOSTS_SERVED = ["localhost", "localhost:8001", "127.0.0.1", "127.0.0.1:1234", "[::1]:8001", "LocalHost."]
HOSTS_REFUSED = ["evil.example", "evil.example:8001", "localhost.evil.example", "127.0.0.2", "a@localhost", "[::2]"]


async def test_a_host_not_served_is_a_400_envelope() -> None:
    async with running_app(discover=False) as (_, client):
        for host in HOSTS_SERVED:
            answer = await client.get("/health/", headers={"Host": host})
            assert answer.status_code == 200, host
        for host in HOSTS_REFUSED:
            status, body = await status_and_body(await client.get("/health/", headers={"Host": host}))
            assert status == 400 and set(body) == ENVELOPE, (host, status, body)
            assert "DEVSTACK_ALLOWED_HOSTS" in body["message"] and host not in body["message"]


async def test_the_host_check_comes_before_rate_limits_and_api_keys() -> None:
    async with running_app(
        discover=False, rate_limit_enabled=True, rate_limit_general="2/minute", api_keys=["k" * 20]
    ) as (_, client):
        for _ in range(5):
            assert (await client.get("/plugins", headers={"Host": "evil.example"})).status_code == 400
        served = await client.get("/plugins", headers={"X-API-Key": "k" * 20})
        assert served.status_code == 200, "refused hosts used up the client's rate limit"
        assert (await client.get("/plugins")).status_code == 401


async def test_allowed_hosts_and_the_bound_address_come_from_settings() -> None:
    settings = {"allowed_hosts": ["api.example", ".corp.example"], "host": "10.1.2.3"}
    async with running_app(discover=False, **settings) as (_, client):
        for host, status in [
            ("api.example:443", 200),
            ("corp.example", 200),
            ("a.b.corp.example", 200),
            ("10.1.2.3:8001", 200),
            ("localhost", 400),
            ("notcorp.example", 400),
        ]:
            assert (await client.get("/health/", headers={"Host": host})).status_code == status, host
    async with running_app(discover=False, allowed_hosts=["*"]) as (_, client):
        assert (await client.get("/health/", headers={"Host": "anything.example"})).status_code == 200


async def test_forwarded_host_counts_only_from_a_trusted_proxy() -> None:
    proxy = {"client": ("10.0.0.9", 5000)}
    async with running_app(discover=False, trusted_proxies=["10.0.0.0/24"]) as (_, client):

        async def get(host: str, forwarded: str, scope: dict[str, Any] | None) -> int:
            headers = {"Host": host, "X-Forwarded-Host": forwarded}
            answer = await client.open("/health/", method="GET", headers=headers, scope_base=scope)
            return int(answer.status_code)

        assert await get("devstack-upstream:8001", "localhost:8001", proxy) == 200
        assert await get("localhost", "evil.example", proxy) == 400
        assert await get("localhost", "localhost, evil.example", proxy) == 400
        direct = {"client": ("192.0.2.7", 5000)}  # not a proxy: its X-Forwarded-Host is ignored
        assert await get("evil.example", "localhost", direct) == 400
        assert await get("localhost", "evil.example", direct) == 200


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1:8001", "[::1]:9"])
async def test_health_without_its_slash_redirects_with_a_relative_location(host: str) -> None:
    async with running_app(discover=False) as (_, client):
        answer = await client.get("/health", headers={"Host": host})
        assert answer.status_code == 308
        assert answer.headers["Location"] == "/health/"
        evil = await client.get("/health", headers={"Host": "evil.example"})
        assert evil.status_code == 400 and "Location" not in evil.headers


def test_host_names_are_parsed_strictly() -> None:
    assert host_name("[::1]:8001") == "::1" == host_name("::1")
    assert host_name("Example.COM.:80") == "example.com"
    for bad in ["", "a b", "x:y", "[::1", "evil.example/x", "a@b"]:
        assert host_name(bad) is None, bad
    hosts = AllowedHosts(["localhost"], "0.0.0.0")
    assert not hosts.serves("0.0.0.0:8001"), "a wildcard bind address is no name clients use"
    assert hosts.serves(None), "HTTP/1.0 without Host (health checkers) is served"
    assert bounded("x" * 1000) == "x" * 61 + "..."


def test_ip_serves_any_address_literal_and_no_name() -> None:
    hosts = AllowedHosts(["localhost", "ip"], "0.0.0.0")
    for served in ("10.42.0.17:8001", "[fd00::17]:8001", "fd00::17", "192.168.1.5", "localhost:8001"):
        assert hosts.serves(served), served
    for refused in ("10.42.0.17.nip.io", "attacker.example", "0x7f000001", "127.1"):
        assert not hosts.serves(refused), refused
    assert not AllowedHosts(["localhost"], "0.0.0.0").serves("10.42.0.17:8001")
