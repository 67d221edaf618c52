"""The /redis/cluster endpoints, node INFO, /health/redis and GET /, against the shared
3-node cluster (read only) and the standalone Redis."""

from __future__ import annotations

import itertools
from typing import Any

from devstack_redis.node_info import allowed_info
from redis_support import Target

from devstack.testing import running_app
from devstack.testkit import Contract


async def get_json(client: Any, url: str, status: int = 200) -> Any:
    response = await client.get(url)
    assert response.status_code == status, (url, response.status_code, await response.get_data(as_text=True))
    return await response.get_json()


async def test_cluster_nodes(cluster: Target, cluster_node_clients: dict[str, Any]) -> None:
    async with running_app(env=cluster.env) as (_app, client):
        document = await get_json(client, "/openapi.json")
        body = await get_json(client, "/redis/cluster/nodes")
    Contract(document).check("get", "/redis/cluster/nodes", 200, body)
    assert list(body) == ["status", "total_nodes", "nodes"]
    assert body["status"] == "success"
    assert body["total_nodes"] == 3 == len(body["nodes"])
    ports = {node.connection_pool.connection_kwargs["port"] for node in cluster_node_clients.values()}
    assert {node["port"] for node in body["nodes"]} == ports
    ids = {client.execute_command("CLUSTER", "MYID").decode() for client in cluster_node_clients.values()}
    assert {node["node_id"] for node in body["nodes"]} == ids
    assert sum(node["slots_count"] for node in body["nodes"]) == 16384
    for node in body["nodes"]:
        assert node["role"] == "master" and "master" in node["flags"]
        assert node["master_id"] is None
        assert node["link_state"] == "connected"
        # the reference's types: times as strings of digits, ranges as {start, end} objects
        assert isinstance(node["ping_sent"], str) and node["ping_sent"].isdigit()
        assert isinstance(node["pong_recv"], str) and node["pong_recv"].isdigit()
        assert (node["ping_sent_ms"], node["pong_recv_ms"]) == (int(node["ping_sent"]), int(node["pong_recv"]))
        assert node["slot_ranges"]
        assert node["slots"] == [
            f"{r['start']}-{r['end']}" if r["start"] != r["end"] else str(r["start"]) for r in node["slot_ranges"]
        ]
        assert sum(r["end"] - r["start"] + 1 for r in node["slot_ranges"]) == node["slots_count"]
    assert sum("myself" in node["flags"] for node in body["nodes"]) == 1


async def test_cluster_slots(cluster: Target) -> None:
    async with running_app(env=cluster.env) as (_app, client):
        document = await get_json(client, "/openapi.json")
        body = await get_json(client, "/redis/cluster/slots")
        nodes = await get_json(client, "/redis/cluster/nodes")
    Contract(document).check("get", "/redis/cluster/slots", 200, body)
    assert list(body) == ["status", "total_slots", "max_slots", "coverage_percentage", "slot_distribution"]
    assert body["total_slots"] == 16384 and body["max_slots"] == 16384
    assert body["coverage_percentage"] == 100.0
    ranges = body["slot_distribution"]
    assert ranges[0]["start_slot"] == 0 and ranges[-1]["end_slot"] == 16383
    for before, after in itertools.pairwise(ranges):
        assert after["start_slot"] == before["end_slot"] + 1
    by_id = {node["node_id"]: node for node in nodes["nodes"]}
    for item in ranges:
        master = by_id[item["master"]["node_id"]]
        assert item["master"]["port"] == master["port"]
        assert {"start": item["start_slot"], "end": item["end_slot"]} in master["slot_ranges"]
        assert item["replicas"] == []


async def test_cluster_info(cluster: Target) -> None:
    async with running_app(env=cluster.env) as (_app, client):
        document = await get_json(client, "/openapi.json")
        body = await get_json(client, "/redis/cluster/info")
    Contract(document).check("get", "/redis/cluster/info", 200, body)
    info = body["cluster_info"]
    assert body["status"] == "success"
    assert info["cluster_state"] == "ok"
    assert info["cluster_slots_assigned"] == 16384
    assert info["cluster_known_nodes"] == 3
    assert info["cluster_size"] == 3
    assert isinstance(info["cluster_current_epoch"], int)


# What the node reports about the machine and its process, never answered.
HOST_AND_PROCESS_FIELDS = {
    "executable",
    "config_file",
    "process_id",
    "run_id",
    "os",
    "arch_bits",
    "gcc_version",
    "redis_build_id",
    "redis_git_sha1",
    "redis_git_dirty",
    "multiplexing_api",
    "atomicvar_api",
    "monotonic_clock",
    "mem_allocator",
    "process_supervised",
    "total_system_memory",
    "total_system_memory_human",
}
# What an operator reads, from every INFO section, always answered.
OPERATOR_FIELDS = {
    "redis_version",
    "redis_mode",
    "tcp_port",
    "uptime_in_seconds",
    "connected_clients",
    "used_memory",
    "used_memory_human",
    "maxmemory_policy",
    "mem_fragmentation_ratio",
    "rdb_last_bgsave_status",
    "aof_enabled",
    "total_commands_processed",
    "keyspace_hits",
    "role",
    "master_repl_offset",
    "used_cpu_sys",
    "cluster_enabled",
}


async def test_node_info(cluster: Target, cluster_node_clients: dict[str, Any]) -> None:
    async with running_app(env=cluster.env) as (_app, client):
        document = await get_json(client, "/openapi.json")
        for name, direct in cluster_node_clients.items():
            before = direct.info("all")
            body = await get_json(client, f"/redis/nodes/{name}/info")
            Contract(document).check("get", "/redis/nodes/{node_name}/info", 200, body)
            assert body["status"] == "success" and body["node"] == name
            info = body["info"]
            assert info["tcp_port"] == direct.connection_pool.connection_kwargs["port"]
            assert info["cluster_enabled"] == 1
            assert info["role"] == "master"
            # INFO all: sections beyond the default ones
            assert any(field.startswith("cmdstat_") for field in info)
            assert any(field.startswith("latency_percentiles_usec_") for field in info)

            assert set(before) >= HOST_AND_PROCESS_FIELDS, "the node no longer reports them: update the test"
            assert not HOST_AND_PROCESS_FIELDS & set(info), name
            assert "module" not in info and not [field for field in info if field.startswith("listener")]
            assert set(info) >= OPERATOR_FIELDS, OPERATOR_FIELDS - set(info)
            # nothing else the node reports is left out (db<n> may vanish when its keys expire)
            left_out = {field for field in set(before) - set(info) if not field.startswith("db")}
            assert left_out == HOST_AND_PROCESS_FIELDS


def test_node_info_allowlist_leaves_out_what_it_does_not_know() -> None:
    parsed = {
        "redis_version": "8.0.0",
        "executable": "/usr/bin/redis-server",
        "listener0": {"name": "tcp", "bind": "*", "port": 6379},
        "module": {"name": "bloom", "path": "/opt/redis/bloom.so"},
        "a_field_of_a_newer_redis": 1,
        "db12": {"keys": 1, "expires": 0},
        "cmdstat_get": {"calls": 1},
        "slave0": {"ip": "10.0.0.2", "port": 6380},
        "role": "master",
    }
    assert list(allowed_info(parsed)) == ["redis_version", "db12", "cmdstat_get", "slave0", "role"]


async def test_health_of_the_cluster(cluster: Target) -> None:
    async with running_app(env=cluster.env) as (_app, client):
        document = await get_json(client, "/openapi.json")
        body = await get_json(client, "/health/redis")
    Contract(document).check("get", "/health/redis", 200, body)
    assert body["status"] == "healthy"
    assert body["cluster_enabled"] is True
    assert body["cluster_state"] == "ok"
    assert body["total_nodes"] == 3
    for node in body["nodes"]:
        assert node["status"] == "healthy"
        assert node["role"] == "master"
        assert node["version"].count(".") == 2
        assert node["connected_clients"] >= 1
        assert node["used_memory_human"]


async def test_health_of_the_standalone_server(standalone: Target) -> None:
    async with running_app(env=standalone.env) as (_app, client):
        document = await get_json(client, "/openapi.json")
        body = await get_json(client, "/health/redis")
    Contract(document).check("get", "/health/redis", 200, body)
    assert body["status"] == "healthy"
    assert body["cluster_enabled"] is False
    assert body["cluster_state"] is None
    assert body["total_nodes"] == 1
    node = body["nodes"][0]
    assert (node["host"], node["port"], node["status"]) == ("127.0.0.1", 6379, "healthy")


async def test_cluster_endpoints_without_nodes_are_503(standalone: Target) -> None:
    async with running_app(env=standalone.env) as (_app, client):
        document = await get_json(client, "/openapi.json")
        for url, template in [
            ("/redis/cluster/nodes", "/redis/cluster/nodes"),
            ("/redis/cluster/slots", "/redis/cluster/slots"),
            ("/redis/cluster/info", "/redis/cluster/info"),
            ("/redis/nodes/redis-1/info", "/redis/nodes/{node_name}/info"),
        ]:
            body = await get_json(client, url, status=503)
            assert body["error"] == "ServiceUnavailableError"
            assert body["message"] == "Redis Cluster is not configured (REDIS_NODES is empty)"
            assert body["details"]["service"] == "redis"
            Contract(document).check("get", template, 503, body)


async def test_cluster_endpoints_on_a_server_not_in_cluster_mode_are_503(standalone: Target) -> None:
    """REDIS_NODES pointing at the standalone server: it answers, but not as a cluster."""
    env = {**standalone.env, "REDIS_NODES": "solo=127.0.0.1:6379"}
    async with running_app(env=env) as (_app, client):
        for url in ("/redis/cluster/nodes", "/redis/cluster/slots", "/redis/cluster/info"):
            body = await get_json(client, url, status=503)
            assert body["message"] == "Redis is not running in cluster mode"
            assert body["details"]["service"] == "redis"
        health = await get_json(client, "/health/redis")
        assert health["status"] == "unhealthy"
        assert health["cluster_enabled"] is False
        assert health["nodes"][0]["error"] == "Redis node is not in cluster mode"
        # INFO of that node still answers: it is node information, not cluster state
        body = await get_json(client, "/redis/nodes/solo/info")
        assert body["info"]["cluster_enabled"] == 0


async def test_root_document_sections(cluster: Target) -> None:
    async with running_app(env=cluster.env) as (_app, client):
        root = await get_json(client, "/")
        document = await get_json(client, "/openapi.json")
    assert root["redis_cluster"] == {
        "nodes": "/redis/cluster/nodes",
        "slots": "/redis/cluster/slots",
        "info": "/redis/cluster/info",
        "node_info": "/redis/nodes/{node_name}/info",
    }
    assert root["examples"]["cache"] == "/examples/cache"
    assert "redis" in root["security"]["circuit_breakers"]["services"]
    assert {"/redis/cluster/nodes", "/health/redis", "/examples/cache/pattern/{pattern}"} <= set(document["paths"])


async def test_every_route_is_in_the_contract(standalone: Target) -> None:
    """Strict mode refuses a route without an operation; this lists them explicitly too."""
    expected = {
        ("get", "/examples/cache/{key}"),
        ("post", "/examples/cache/{key}"),
        ("delete", "/examples/cache/{key}"),
        ("get", "/examples/cache/pattern/{pattern}"),
        ("get", "/redis/cluster/nodes"),
        ("get", "/redis/cluster/slots"),
        ("get", "/redis/cluster/info"),
        ("get", "/redis/nodes/{node_name}/info"),
        ("get", "/health/redis"),
    }
    async with running_app(env=standalone.env) as (_app, client):
        document = await get_json(client, "/openapi.json")
        plugins = await get_json(client, "/plugins")
    documented = {(method, path) for path, item in document["paths"].items() for method in item}
    assert expected <= documented
    record = next(plugin for plugin in plugins["plugins"] if plugin["name"] == "redis")
    assert record["status"] == "loaded"
    assert {route.lower() for route in record["routes"]} >= {
        f"{method} {path}" for method, path in expected if path != "/health/redis"
    }
    for method, path in expected:
        responses = document["paths"][path][method]["responses"]
        assert {"401", "429"} <= set(responses)
        if path != "/health/redis":
            assert "503" in responses
