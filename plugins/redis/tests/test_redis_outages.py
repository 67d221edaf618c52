"""Outages on a private 3-node cluster (never the shared one): a node stopped, a node
frozen, then back. Answers are 503 envelopes or documented partial views, within the
time bounds, never a hang; the application recovers without a restart."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from redis_support import PrivateCluster, keys_on_each_node, master_ranges

from devstack.api import CacheUnavailable
from devstack.testing import host_of, running_app
from devstack.testkit import closed_port, eventually

CACHE = "/examples/cache"
BACKEND_TIMEOUT = 5.0  # core's default DEVSTACK_BACKEND_TIMEOUT
SLACK = 2.0


def private_env(cluster: PrivateCluster) -> dict[str, str | None]:
    return {
        "REDIS_URL": f"redis://127.0.0.1:{closed_port()}/0",  # unused in cluster mode
        "REDIS_NODES": cluster.nodes_setting,
        "REDIS_CLUSTER_PASSWORD": cluster.password,
        "REDIS_PASSWORD": None,
        "REDIS_EXAMPLES_PREFIX": None,
        "REDIS_KEY_PREFIX": None,
    }


async def timed(call: Callable[[], Awaitable[Any]]) -> tuple[Any, float]:
    started = time.monotonic()
    result = await call()
    return result, time.monotonic() - started


async def assert_503(client: Any, method: str, url: str, bound: float = BACKEND_TIMEOUT + SLACK) -> dict[str, Any]:
    response, elapsed = await timed(lambda: getattr(client, method)(url))
    assert response.status_code == 503, (url, response.status_code)
    assert elapsed < bound, (url, elapsed)
    body: dict[str, Any] = await response.get_json()
    assert body["error"] == "ServiceUnavailableError"
    assert body["retry_suggestion"]
    return body


@pytest.fixture
def healthy_cluster(private_cluster: PrivateCluster) -> Iterator[PrivateCluster]:
    """The private cluster with every node running and cluster_state ok, before and after."""
    private_cluster.start_stopped_nodes()
    private_cluster.wait(private_cluster.state_ok, "cluster_state ok before the test")
    yield private_cluster
    private_cluster.start_stopped_nodes()


async def assert_node_down(client: Any, keys: dict[int, str], victim: int, victim_name: str) -> None:
    """The victim node is stopped: its keys, the search and its INFO are 503; health says which."""
    # the key on the stopped node: 503 (connection refused), within the backend timeout
    body = await assert_503(client, "get", f"{CACHE}/{keys[victim]}")
    assert body["details"]["service"] == "redis"
    # the search needs every master: 503, never a silently partial list
    await assert_503(client, "get", f"{CACHE}/pattern/k*")
    # the node's own INFO: 503 naming the node (its own circuit breaker)
    body = await assert_503(client, "get", f"/redis/nodes/{victim_name}/info")
    assert body["details"]["service"] == victim_name
    assert (await client.get("/redis/nodes/priv-1/info")).status_code == 200

    # health says which node is down
    health = await (await client.get("/health/redis")).get_json()
    assert health["status"] == "unhealthy"
    assert health["total_nodes"] == 3
    by_port = {node["port"]: node for node in health["nodes"]}
    assert by_port[victim]["status"] == "unhealthy"
    assert by_port[victim]["error"] == "Redis node did not answer"
    assert by_port[victim]["version"] is None


async def assert_cluster_fails(app: Any, client: Any, victim: int, survivor_key: str) -> None:
    """The survivors mark the node failed, the cluster state turns fail, every key is 503."""

    # the survivors notice (cluster-node-timeout 1 s): the topology view marks the node failed
    async def victim_marked_failed() -> dict[str, Any] | None:
        response = await client.get("/redis/cluster/nodes")
        assert response.status_code == 200  # answered by a surviving node
        nodes = {node["port"]: node for node in (await response.get_json())["nodes"]}
        node = nodes[victim]
        return node if "fail" in node["flags"] and node["link_state"] == "disconnected" else None

    failed = await eventually(victim_marked_failed, timeout=15)
    assert failed["slots_count"] > 0

    async def cluster_failing() -> bool:
        info = (await (await client.get("/redis/cluster/info")).get_json())["cluster_info"]
        return bool(info["cluster_state"] == "fail")

    await eventually(cluster_failing, timeout=15)
    health = await (await client.get("/health/redis")).get_json()
    assert health["cluster_state"] == "fail"
    # without full slot coverage the cluster refuses every key: 503, even on survivors
    await assert_503(client, "get", f"{CACHE}/{survivor_key}")

    # the shared cache is bypassed, quickly; /health/all still answers
    started = time.monotonic()
    with pytest.raises(CacheUnavailable):
        await host_of(app).cache.get("anything")
    assert time.monotonic() - started < 1.0 + SLACK  # REDIS_CACHE_TIMEOUT
    response = await client.get("/health/all")
    assert response.status_code == 200
    assert (await response.get_json())["services"]["redis"]["status"] == "unhealthy"


async def assert_healed(app: Any, client: Any, cluster: PrivateCluster, keys: dict[int, str], victim: int) -> None:
    """The node is back: writes, reads, the search, its INFO and the shared cache work again."""

    async def healed() -> bool:
        response = await client.post(f"{CACHE}/{keys[victim]}?value=back&ttl=60")
        return response.status_code == 200

    await eventually(healed, timeout=20)
    body = await (await client.get(f"{CACHE}/{keys[victim]}")).get_json()
    assert body["value"] == "back"
    body = await (await client.get(f"{CACHE}/{keys[cluster.ports[0]]}")).get_json()
    assert body["value"] == f"p{cluster.ports[0]}"  # the survivors kept their data
    search = await client.get(f"{CACHE}/pattern/k*")
    assert search.status_code == 200
    assert keys[victim] in (await search.get_json())["keys"]

    async def node_info_back() -> bool:
        return (await client.get(f"/redis/nodes/priv-{cluster.ports.index(victim) + 1}/info")).status_code == 200

    await eventually(node_info_back, timeout=10)
    health = await (await client.get("/health/redis")).get_json()
    assert health["status"] == "healthy" and health["cluster_state"] == "ok"
    await host_of(app).cache.set("after-recovery", b"1", 10)
    assert await host_of(app).cache.get("after-recovery") == b"1"


async def test_a_stopped_node_then_recovery(healthy_cluster: PrivateCluster) -> None:
    cluster = healthy_cluster
    masters = master_ranges(cluster.client(cluster.ports[0]))
    keys = keys_on_each_node("cache:", masters)
    victim = cluster.ports[2]
    async with running_app(env=private_env(cluster), breaker_reset_timeout=1.0) as (app, client):
        for port, name in keys.items():
            assert (await client.post(f"{CACHE}/{name}?value=p{port}")).status_code == 200
        assert (await client.get("/health/redis")).status_code == 200

        cluster.stop_node(victim)
        await assert_node_down(client, keys, victim, "priv-3")
        await assert_cluster_fails(app, client, victim, keys[cluster.ports[0]])

        cluster.start_node(victim)
        cluster.wait(cluster.state_ok, "cluster_state ok after the restart")
        await assert_healed(app, client, cluster, keys, victim)
        for name in keys.values():
            await client.delete(f"{CACHE}/{name}")


async def test_a_frozen_node_answers_503_within_the_timeout(healthy_cluster: PrivateCluster) -> None:
    """A node that accepts connections but never replies (SIGSTOP): bounded by the timeouts."""
    cluster = healthy_cluster
    masters = master_ranges(cluster.client(cluster.ports[0]))
    names = keys_on_each_node("cache:", masters)
    victim = cluster.ports[1]
    process = cluster.processes[victim]
    async with running_app(env=private_env(cluster), breaker_reset_timeout=1.0) as (_app, client):
        assert (await client.post(f"{CACHE}/{names[victim]}?value=v")).status_code == 200
        os.kill(process.pid, signal.SIGSTOP)
        try:
            body = await assert_503(client, "get", f"{CACHE}/{names[victim]}")
            assert body["details"]["reason"] in ("timeout", "backend_error")
            await assert_503(client, "get", f"{CACHE}/pattern/*", bound=2.0 + 3.0 + 2.0 + SLACK)
            _health, elapsed = await timed(lambda: client.get("/health/redis"))
            assert elapsed < 3.0 + 1.0 + SLACK  # REDIS_HEALTH_TIMEOUT bounds each node
            health = await _health.get_json()
            assert {node["port"]: node["status"] for node in health["nodes"]}[victim] == "unhealthy"
        finally:
            os.kill(process.pid, signal.SIGCONT)
        cluster.wait(cluster.state_ok, "cluster_state ok after SIGCONT")

        async def healed() -> bool:
            response = await client.get(f"{CACHE}/{names[victim]}")
            return response.status_code == 200

        await eventually(healed, timeout=20)
        await client.delete(f"{CACHE}/{names[victim]}")


async def test_standalone_redis_unreachable() -> None:
    """Nothing listens at REDIS_URL: startup succeeds, every route answers 503 at once."""
    env = {
        "REDIS_URL": f"redis://127.0.0.1:{closed_port()}/0",
        "REDIS_NODES": "",
        "REDIS_PASSWORD": None,
        "REDIS_CLUSTER_PASSWORD": None,
    }
    async with running_app(env=env) as (_app, client):
        for method, url in [
            ("get", f"{CACHE}/k"),
            ("post", f"{CACHE}/k?value=v"),
            ("delete", f"{CACHE}/k"),
            ("get", f"{CACHE}/pattern/k*"),
        ]:
            body = await assert_503(client, method, url)
            assert body["details"]["service"] == "redis"
        health = await (await client.get("/health/redis")).get_json()
        assert health["status"] == "unhealthy"
        assert health["error"] == "Redis connection failed"
        assert health["nodes"][0]["status"] == "unhealthy"
        # the breaker opens after repeated failures and says so
        for _ in range(6):
            response = await client.get(f"{CACHE}/k")
        body = await response.get_json()
        assert body["details"]["reason"] == "circuit_open"
        assert "Retry-After" in response.headers
