"""The ``redis`` health check: every node's state, and the cluster's."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from redis.exceptions import ResponseError

from devstack.api import HealthBody, HealthCheck, ServiceUnavailable, health_body
from devstack_redis.service import SERVICE, NodeClient, RedisService, raw_command
from devstack_redis.topology import parse_cluster_info

log = logging.getLogger("devstack_redis")

NODE_FIELDS = ("version", "role", "connected_clients", "used_memory_human")
# the INFO sections the entry reads: half the fields of a full INFO, half its parsing CPU
INFO_SECTIONS = ("server", "clients", "memory", "replication", "cluster")


def down_node(host: str, port: int, error: str) -> dict[str, Any]:
    return {"host": host, "port": port, "status": "unhealthy", **dict.fromkeys(NODE_FIELDS), "error": error}


class RedisHealth:
    """Probe of ``GET /health/redis`` (not behind the circuit breaker: it is how recovery is seen)."""

    def __init__(self, service: RedisService) -> None:
        self._service = service
        self._full_info: set[str] = set()  # nodes that refused INFO with several sections

    async def node_info(self, node: NodeClient) -> dict[str, Any]:
        """The sections of INFO the entry needs. A server before Redis 7 takes at most one
        section per INFO and refuses more: that node is asked for the full INFO from then on."""
        if node.name not in self._full_info:
            try:
                info: dict[str, Any] = await node.client.info(*INFO_SECTIONS)
                return info
            except ResponseError:
                self._full_info.add(node.name)
        full: dict[str, Any] = await node.client.info()
        return full

    async def _node(self, node: NodeClient) -> tuple[dict[str, Any], bool, str | None]:
        """The node's entry, whether it runs in cluster mode, and its cluster_state."""
        cluster_mode = self._service.settings.cluster_mode
        try:
            info = await self.node_info(node)
            enabled = bool(info.get("cluster_enabled"))
            state = None
            if enabled:
                state = str(parse_cluster_info(await raw_command(node.client, "CLUSTER", "INFO"))["cluster_state"])
        except Exception as exc:  # noqa: BLE001 - reported as an unhealthy node
            log.warning("redis node health probe failed", extra={"node": node.name, "error_type": type(exc).__name__})
            return down_node(node.host, node.port, "Redis node did not answer"), False, None
        entry = {
            "host": node.host,
            "port": node.port,
            "status": "healthy",
            "version": info.get("redis_version"),
            "role": info.get("role"),
            "connected_clients": info.get("connected_clients"),
            "used_memory_human": info.get("used_memory_human"),
        }
        if cluster_mode and not enabled:
            entry.update(status="unhealthy", error="Redis node is not in cluster mode")
        elif cluster_mode and state != "ok":
            entry.update(status="unhealthy", error="Redis node reports the cluster is not ok")
        return entry, enabled, state

    async def _all_nodes(self, nodes: tuple[NodeClient, ...]) -> list[tuple[dict[str, Any], bool, str | None]]:
        """Every node probed concurrently; one that has not answered within REDIS_HEALTH_TIMEOUT
        is reported down at once (its probe is cancelled in the background, not awaited)."""
        tasks = [asyncio.create_task(self._node(node)) for node in nodes]
        done, pending = await asyncio.wait(tasks, timeout=self._service.settings.health_timeout)
        for task in pending:
            task.cancel()
        return [
            task.result()
            if task in done
            else (down_node(node.host, node.port, "Redis node did not answer"), False, None)
            for task, node in zip(tasks, nodes, strict=True)
        ]

    async def probe(self) -> HealthBody:
        settings = self._service.settings
        try:
            nodes = self._service.nodes()
        except ServiceUnavailable:
            configured = [(n.host, n.port) for n in settings.nodes] or [settings.standalone_address()]
            entries = [down_node(host, port, "Redis connection is not established yet") for host, port in configured]
            return health_body(
                False,
                cluster_enabled=False,
                cluster_state=None,
                nodes=entries,
                total_nodes=len(entries),
                error="Redis connection is not established yet",
            )
        results = await self._all_nodes(nodes)
        entries = [entry for entry, _, _ in results]
        states = [state for _, enabled, state in results if enabled]
        cluster_state = next((state for state in states if state != "ok"), states[0] if states else None)
        healthy = all(entry["status"] == "healthy" for entry in entries)
        body = health_body(
            healthy,
            cluster_enabled=any(enabled for _, enabled, _ in results),
            cluster_state=cluster_state,
            nodes=entries,
            total_nodes=len(entries),
        )
        if not healthy:
            body["error"] = "Redis cluster is not healthy" if settings.cluster_mode else "Redis connection failed"
        return body


def health_check(service: RedisService) -> HealthCheck:
    """The plugin's one (critical) health check; REDIS_HEALTH_TIMEOUT bounds each node."""
    return HealthCheck(
        name=SERVICE,
        probe=RedisHealth(service).probe,
        timeout=service.settings.health_timeout + 1.0,
        critical=True,
        description="Every Redis node answers and the cluster state is ok",
    )
