"""GET/POST/DELETE /examples/cache/{key} and the pattern search, against the standalone
Redis and the 3-node cluster (each test runs once per deployment)."""

from __future__ import annotations

import asyncio
from typing import Any

from redis_support import Target, keys_on_each_node, master_ranges

from devstack.testing import host_of, running_app
from devstack.testkit import Contract

CACHE = "/examples/cache"


async def test_set_get_delete_round_trip(target: Target) -> None:
    async with running_app(env=target.env) as (_app, client):
        document = await (await client.get("/openapi.json")).get_json()

        response = await client.post(f"{CACHE}/user:42.name?value=Ada%20Lovelace&ttl=120")
        assert response.status_code == 200
        body = await response.get_json()
        assert body == {"key": "user:42.name", "value": "Ada Lovelace", "ttl": 120, "action": "set"}
        Contract(document).check("post", "/examples/cache/{key}", 200, body)

        response = await client.get(f"{CACHE}/user:42.name")
        assert response.status_code == 200
        body = await response.get_json()
        assert body["key"] == "user:42.name"
        assert body["value"] == "Ada Lovelace"
        assert body["exists"] is True
        assert isinstance(body["ttl"], int) and 110 <= body["ttl"] <= 120
        assert list(body) == ["key", "value", "exists", "ttl"]
        Contract(document).check("get", "/examples/cache/{key}", 200, body)

        # stored in Redis under the examples prefix, with its expiry
        stored_key = f"{target.examples_prefix}user:42.name"
        assert target.client.get(stored_key) == b"Ada Lovelace"
        assert 110 <= target.client.ttl(stored_key) <= 120

        response = await client.delete(f"{CACHE}/user:42.name")
        assert response.status_code == 200
        body = await response.get_json()
        assert body == {"key": "user:42.name", "deleted": True, "action": "delete"}
        Contract(document).check("delete", "/examples/cache/{key}", 200, body)
        assert target.client.exists(stored_key) == 0

        body = await (await client.delete(f"{CACHE}/user:42.name")).get_json()
        assert body == {"key": "user:42.name", "deleted": False, "action": "delete"}


async def test_missing_key_and_key_without_expiry(target: Target) -> None:
    async with running_app(env=target.env) as (_app, client):
        document = await (await client.get("/openapi.json")).get_json()
        body = await (await client.get(f"{CACHE}/absent-key")).get_json()
        assert body == {"key": "absent-key", "value": None, "exists": False, "ttl": None}
        Contract(document).check("get", "/examples/cache/{key}", 200, body)

        body = await (await client.post(f"{CACHE}/forever?value=v1")).get_json()
        assert body == {"key": "forever", "value": "v1", "ttl": None, "action": "set"}
        body = await (await client.get(f"{CACHE}/forever")).get_json()
        assert body == {"key": "forever", "value": "v1", "exists": True, "ttl": "no expiration"}
        assert target.client.ttl(f"{target.examples_prefix}forever") == -1


async def test_overwrite_without_ttl_clears_the_expiry_and_empty_values_are_kept(target: Target) -> None:
    async with running_app(env=target.env) as (_app, client):
        assert (await client.post(f"{CACHE}/k1?value=a&ttl=50")).status_code == 200
        assert (await (await client.get(f"{CACHE}/k1")).get_json())["ttl"] <= 50
        assert (await client.post(f"{CACHE}/k1?value=")).status_code == 200
        body = await (await client.get(f"{CACHE}/k1")).get_json()
        assert body == {"key": "k1", "value": "", "exists": True, "ttl": "no expiration"}


async def test_value_of_maximum_length_and_unicode(target: Target) -> None:
    value = "é" * 5000 + "x" * 5000
    async with running_app(env=target.env) as (_app, client):
        response = await client.post(f"{CACHE}/long", query_string={"value": value, "ttl": "86400"})
        assert response.status_code == 200
        body = await (await client.get(f"{CACHE}/long")).get_json()
        assert body["value"] == value
        assert body["ttl"] > 86000


async def test_expired_key_is_missing(target: Target) -> None:
    async with running_app(env=target.env) as (_app, client):
        assert (await client.post(f"{CACHE}/short?value=x&ttl=1")).status_code == 200
        await asyncio.sleep(1.3)
        body = await (await client.get(f"{CACHE}/short")).get_json()
        assert body == {"key": "short", "value": None, "exists": False, "ttl": None}


async def test_keys_in_every_slot_range_of_the_cluster(cluster: Target, cluster_node_clients: dict[str, Any]) -> None:
    """Keys hashing to slots of each of the three masters: set, read, search, delete."""
    any_node = next(iter(cluster_node_clients.values()))
    masters = master_ranges(any_node)
    assert len(masters) == 3
    names = keys_on_each_node(cluster.examples_prefix, masters)
    async with running_app(env=cluster.env) as (_app, client):
        for port, name in names.items():
            assert (await client.post(f"{CACHE}/{name}?value=on-{port}")).status_code == 200
        # each key really lives on a different master
        by_port = {node.connection_pool.connection_kwargs["port"]: node for node in cluster_node_clients.values()}
        for port, name in names.items():
            assert by_port[port].get(f"{cluster.examples_prefix}{name}") == f"on-{port}".encode()
        for port, name in names.items():
            body = await (await client.get(f"{CACHE}/{name}")).get_json()
            assert body["value"] == f"on-{port}"
        body = await (await client.get(f"{CACHE}/pattern/k*")).get_json()
        assert body == {"pattern": "k*", "keys": sorted(names.values()), "count": 3, "truncated": False}
        for name in names.values():
            assert (await (await client.delete(f"{CACHE}/{name}")).get_json())["deleted"] is True


async def test_pattern_search_globs_limit_and_truncation(target: Target) -> None:
    async with running_app(env=target.env) as (_app, client):
        document = await (await client.get("/openapi.json")).get_json()
        for index in range(25):
            assert (await client.post(f"{CACHE}/session:{index:02d}?value=s{index}&ttl=300")).status_code == 200
        assert (await client.post(f"{CACHE}/other:1?value=o")).status_code == 200

        response = await client.get(f"{CACHE}/pattern/session:*")
        assert response.status_code == 200
        body = await response.get_json()
        assert body == {
            "pattern": "session:*",
            "keys": [f"session:{index:02d}" for index in range(25)],
            "count": 25,
            "truncated": False,
        }
        Contract(document).check("get", "/examples/cache/pattern/{pattern}", 200, body)

        body = await (await client.get(f"{CACHE}/pattern/session:*", query_string={"limit": "10"})).get_json()
        assert body["count"] == 10 and len(body["keys"]) == 10 and body["truncated"] is True
        assert set(body["keys"]) <= {f"session:{index:02d}" for index in range(25)}

        body = await (await client.get(f"{CACHE}/pattern/session:*", query_string={"limit": "25"})).get_json()
        assert body["count"] == 25 and body["truncated"] is False

        # ? is one character (sent percent-encoded in the path)
        body = await (await client.get(f"{CACHE}/pattern/session:1%3F")).get_json()
        assert body["pattern"] == "session:1?"
        assert body["keys"] == [f"session:{index}" for index in range(10, 20)]

        body = await (await client.get(f"{CACHE}/pattern/nothing-like-this*")).get_json()
        assert body == {"pattern": "nothing-like-this*", "keys": [], "count": 0, "truncated": False}

        # the search sees only the examples' keys: a bare * finds the 26 keys written here
        body = await (await client.get(f"{CACHE}/pattern/*", query_string={"limit": "1000"})).get_json()
        assert body["count"] == 26 and body["truncated"] is False


async def test_pattern_search_stops_at_its_time_budget(target: Target) -> None:
    """With a budget that is over after the first SCAN page, the answer says truncated."""
    env = {**target.env, "REDIS_SEARCH_BUDGET": "0.000001", "REDIS_SCAN_COUNT": "10"}
    async with running_app(env=env) as (_app, client):
        for index in range(40):
            assert (await client.post(f"{CACHE}/budget:{index}?value=v&ttl=60")).status_code == 200
        body = await (await client.get(f"{CACHE}/pattern/budget:*", query_string={"limit": "1000"})).get_json()
    assert body["truncated"] is True
    assert body["count"] == len(body["keys"]) < 40
    assert set(body["keys"]) <= {f"budget:{index}" for index in range(40)}


async def test_pattern_search_uses_scan_on_every_master_never_keys(
    cluster: Target, cluster_node_clients: dict[str, Any]
) -> None:
    def stats() -> dict[str, tuple[int, int]]:
        found = {}
        for name, node in cluster_node_clients.items():
            info = node.info("commandstats")
            found[name] = (
                int(info.get("cmdstat_scan", {}).get("calls", 0)),
                int(info.get("cmdstat_keys", {}).get("calls", 0)),
            )
        return found

    async with running_app(env=cluster.env) as (_app, client):
        before = stats()
        assert (await client.get(f"{CACHE}/pattern/anything*")).status_code == 200
        after = stats()
    for name in cluster_node_clients:
        assert after[name][0] > before[name][0], f"no SCAN on {name}"
        assert after[name][1] == before[name][1], f"KEYS was called on {name}"


async def test_default_prefixes_keep_examples_apart_from_the_shared_cache(
    standalone_client: Any, namespace: str
) -> None:
    """Without prefix settings: examples under cache:, the shared cache under devstack:."""
    env = {
        "REDIS_URL": f"redis://127.0.0.1:{standalone_client.connection_pool.connection_kwargs['port']}/0",
        "REDIS_NODES": "",
        "REDIS_EXAMPLES_PREFIX": None,
        "REDIS_KEY_PREFIX": None,
    }
    key = f"{namespace}doc"
    try:
        async with running_app(env=env) as (app, client):
            assert (await client.post(f"{CACHE}/{key}?value=1&ttl=60")).status_code == 200
            assert standalone_client.get(f"cache:{key}") == b"1"
            await host_of(app).cache.set(key, b"shared", 60)
            assert standalone_client.get(f"devstack:{key}") == b"shared"
            # the examples' search does not see the shared cache's key
            body = await (await client.get(f"{CACHE}/pattern/{namespace}*")).get_json()
            assert body["keys"] == [key]
    finally:
        standalone_client.delete(f"cache:{key}", f"devstack:{key}")
