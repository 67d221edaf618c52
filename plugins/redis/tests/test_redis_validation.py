"""Bad input answers the 422 (or 404) envelope before Redis is touched."""

from __future__ import annotations

from typing import Any

import pytest
from redis_support import Target

from devstack.testing import running_app
from devstack.testkit import Contract

CACHE = "/examples/cache"


async def validation_error(client: Any, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
    response = await getattr(client, method)(url, **kwargs)
    assert response.status_code == 422, (method, url)
    body: dict[str, Any] = await response.get_json()
    assert body["error"] == "ValidationError"
    assert body["status_code"] == 422
    assert body["request_id"] == response.headers["X-Request-ID"]
    assert body["details"]["validation_errors"]
    return body


@pytest.mark.parametrize(
    ("method", "url", "location"),
    [
        ("get", f"{CACHE}/{'k' * 201}", ["path", "key"]),
        ("get", f"{CACHE}/bad%20key", ["path", "key"]),
        ("get", f"{CACHE}/star*", ["path", "key"]),
        ("delete", f"{CACHE}/semi;colon", ["path", "key"]),
        ("post", f"{CACHE}/k", ["query", "value"]),
        ("post", f"{CACHE}/k?value=v&ttl=0", ["query", "ttl"]),
        ("post", f"{CACHE}/k?value=v&ttl=86401", ["query", "ttl"]),
        ("post", f"{CACHE}/k?value=v&ttl=ten", ["query", "ttl"]),
        ("post", f"{CACHE}/k?value=v&ttl=1.5", ["query", "ttl"]),
        ("post", f"{CACHE}/ok?value={'v' * 10001}", ["query", "value"]),
        ("get", f"{CACHE}/pattern/{'a' * 201}", ["path", "pattern"]),
        ("get", f"{CACHE}/pattern/a[bc]", ["path", "pattern"]),
        ("get", f"{CACHE}/pattern/a%5Cb", ["path", "pattern"]),
        ("get", f"{CACHE}/pattern/a*?limit=0", ["query", "limit"]),
        ("get", f"{CACHE}/pattern/a*?limit=1001", ["query", "limit"]),
        ("get", f"{CACHE}/pattern/a*?limit=many", ["query", "limit"]),
        ("get", f"/redis/nodes/{'n' * 51}/info", ["path", "node_name"]),
        ("get", "/redis/nodes/bad.name/info", ["path", "node_name"]),
    ],
)
async def test_bad_input_is_422(standalone: Target, method: str, url: str, location: list[str]) -> None:
    async with running_app(env=standalone.env) as (_app, client):
        document = await (await client.get("/openapi.json")).get_json()
        body = await validation_error(client, method, url)
        assert [error["loc"] for error in body["details"]["validation_errors"]] == [location]
        template = url.split("?")[0]
        if template.startswith(f"{CACHE}/pattern/"):
            template = "/examples/cache/pattern/{pattern}"
        elif template.startswith(f"{CACHE}/"):
            template = "/examples/cache/{key}"
        else:
            template = "/redis/nodes/{node_name}/info"
        Contract(document).check(method, template, 422, body)
    # nothing was written for the rejected requests
    assert list(standalone.client.scan_iter(match=f"{standalone.namespace}*")) == []


async def test_key_of_maximum_length_and_full_alphabet_is_accepted(standalone: Target) -> None:
    key = ("aZ09_:.-" * 25)[:200]
    async with running_app(env=standalone.env) as (_app, client):
        assert (await client.post(f"{CACHE}/{key}?value=x&ttl=1")).status_code == 200
        body = await (await client.get(f"{CACHE}/{key}")).get_json()
        assert body["key"] == key and body["exists"] is True


async def test_unknown_node_is_404(cluster: Target) -> None:
    async with running_app(env=cluster.env) as (_app, client):
        document = await (await client.get("/openapi.json")).get_json()
        response = await client.get("/redis/nodes/redis-9/info")
        assert response.status_code == 404
        body = await response.get_json()
        assert body["error"] == "ResourceNotFoundError"
        assert body["message"] == "Unknown Redis node: redis-9"
        Contract(document).check("get", "/redis/nodes/{node_name}/info", 404, body)


async def test_post_with_a_body_of_the_wrong_type_or_size(standalone: Target) -> None:
    async with running_app(env=standalone.env, max_body_bytes=1000) as (_app, client):
        document = await (await client.get("/openapi.json")).get_json()
        response = await client.post(
            f"{CACHE}/k?value=v", data=b"\x00\x01", headers={"Content-Type": "application/octet-stream"}
        )
        assert response.status_code == 415
        Contract(document).check("post", "/examples/cache/{key}", 415, await response.get_json())
        response = await client.post(f"{CACHE}/k?value=v", data=b"x" * 2000, headers={"Content-Type": "text/plain"})
        assert response.status_code == 413
        Contract(document).check("post", "/examples/cache/{key}", 413, await response.get_json())
    assert standalone.client.exists(f"{standalone.examples_prefix}k") == 0


async def test_unknown_method_is_405_envelope(standalone: Target) -> None:
    async with running_app(env=standalone.env) as (_app, client):
        response = await client.put(f"{CACHE}/k")
        assert response.status_code == 405
        assert (await response.get_json())["status_code"] == 405
