"""Fixtures: the shared standalone Redis and Redis Cluster of scripts/services.sh, and a
private cluster the outage tests may stop.

A missing service is a failure, never a skip. Tests never stop or restart a shared
service; every test writes under a key namespace of its own and removes it afterwards.
"""

from __future__ import annotations

import secrets
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.cluster import ClusterNode, RedisCluster

# The root pytest configuration uses --import-mode=importlib: make the helpers importable.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from redis_support import PrivateCluster, Target

from devstack.testkit import require_env


def cluster_nodes(setting: str) -> list[tuple[str, str, int]]:
    nodes = []
    for item in setting.split(","):
        name, _, address = item.partition("=")
        host, _, port = address.rpartition(":")
        nodes.append((name, host, int(port)))
    return nodes


def standalone_env() -> dict[str, str | None]:
    return {
        "REDIS_URL": require_env("REDIS_URL"),
        "REDIS_NODES": "",
        "REDIS_PASSWORD": None,
        "REDIS_CLUSTER_PASSWORD": None,
    }


def cluster_env() -> dict[str, str | None]:
    env = require_env("REDIS_URL", "REDIS_NODES", "REDIS_CLUSTER_PASSWORD")
    return {**env, "REDIS_PASSWORD": None}


@pytest.fixture(scope="session")
def standalone_client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(standalone_env()["REDIS_URL"] or "", socket_timeout=5)
    client.ping()
    yield client
    client.close()


@pytest.fixture(scope="session")
def cluster_client() -> Iterator[RedisCluster]:
    env = cluster_env()
    nodes = [ClusterNode(host, port) for _, host, port in cluster_nodes(env["REDIS_NODES"] or "")]  # type: ignore[no-untyped-call]
    client = RedisCluster(startup_nodes=nodes, password=env["REDIS_CLUSTER_PASSWORD"], socket_timeout=5)
    client.ping(target_nodes=RedisCluster.ALL_NODES)
    yield client
    client.close()


@pytest.fixture(scope="session")
def cluster_node_clients() -> Iterator[dict[str, redis.Redis]]:
    """Direct clients to each shared cluster node, by configured name."""
    env = cluster_env()
    clients = {
        name: redis.Redis(host=host, port=port, password=env["REDIS_CLUSTER_PASSWORD"], socket_timeout=5)
        for name, host, port in cluster_nodes(env["REDIS_NODES"] or "")
    }
    yield clients
    for client in clients.values():
        client.close()


@pytest.fixture
def namespace() -> str:
    return f"test-{uuid.uuid4().hex[:12]}:"


def drop_namespace(client: Any, namespace: str) -> None:
    doomed = list(client.scan_iter(match=f"{namespace}*", count=1000))
    for key in doomed:
        client.delete(key)


@pytest.fixture
def standalone(standalone_client: redis.Redis, namespace: str) -> Iterator[Target]:
    target = Target("standalone", standalone_env(), standalone_client, namespace)
    target.env.update(REDIS_EXAMPLES_PREFIX=target.examples_prefix, REDIS_KEY_PREFIX=target.shared_prefix)
    yield target
    drop_namespace(standalone_client, namespace)


@pytest.fixture
def cluster(cluster_client: RedisCluster, namespace: str) -> Iterator[Target]:
    target = Target("cluster", cluster_env(), cluster_client, namespace)
    target.env.update(REDIS_EXAMPLES_PREFIX=target.examples_prefix, REDIS_KEY_PREFIX=target.shared_prefix)
    yield target
    drop_namespace(cluster_client, namespace)


@pytest.fixture(params=["standalone", "cluster"])
def target(request: pytest.FixtureRequest) -> Target:
    """Each test using it runs against the standalone Redis and against the cluster."""
    found: Target = request.getfixturevalue(request.param)
    return found


@pytest.fixture(scope="session")
def private_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateCluster]:
    """A 3-node cluster on free ports that only this session uses (created once)."""
    base: Path = tmp_path_factory.mktemp("redis-cluster")
    cluster = PrivateCluster(base, password=secrets.token_hex(12)).start()
    try:
        yield cluster
    finally:
        cluster.stop()
