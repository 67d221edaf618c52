"""The /redis endpoints' work: cluster topology, slots, state and one node's INFO."""

from __future__ import annotations

import logging
from typing import Any

from redis.exceptions import RedisError, ResponseError

from devstack.api import NotFound, ServiceUnavailable
from devstack_redis.node_info import allowed_info
from devstack_redis.service import SERVICE, RedisService, raw_command
from devstack_redis.topology import parse_cluster_info, parse_cluster_nodes, parse_cluster_slots

log = logging.getLogger("devstack_redis")

NOT_CONFIGURED = "Redis Cluster is not configured (REDIS_NODES is empty)"
NOT_CLUSTER = "Redis is not running in cluster mode"
NO_NODE = "No configured Redis Cluster node answered"


def cluster_disabled(exc: ResponseError) -> bool:
    """The server's answer to a CLUSTER command when cluster support is off."""
    return "cluster support disabled" in str(exc).lower()


class ClusterManagement:
    """Reads the cluster's state from the first configured node that answers."""

    def __init__(self, service: RedisService) -> None:
        self._service = service

    async def _cluster_command(self, operation: str, *command: str) -> Any:
        """``command`` on the first configured node that answers, counted as ``operation``."""
        async with self._service.metrics.measured(operation):
            return await self._first_answer(*command)

    async def _first_answer(self, *command: str) -> Any:
        if not self._service.settings.cluster_mode:
            raise ServiceUnavailable(SERVICE, NOT_CONFIGURED)
        nodes = self._service.nodes()
        async with self._service.host.backend(SERVICE):
            for node in nodes:
                try:
                    return await raw_command(node.client, *command)
                except ResponseError as exc:
                    if cluster_disabled(exc):
                        raise ServiceUnavailable(SERVICE, NOT_CLUSTER) from None
                    log.warning("cluster node refused", extra={"node": node.name, "error_type": type(exc).__name__})
                except RedisError as exc:
                    log.warning("cluster node unreachable", extra={"node": node.name, "error_type": type(exc).__name__})
            raise ServiceUnavailable(SERVICE, NO_NODE)

    async def nodes(self) -> dict[str, Any]:
        nodes = parse_cluster_nodes(await self._cluster_command("cluster_nodes", "CLUSTER", "NODES"))
        return {"status": "success", "total_nodes": len(nodes), "nodes": nodes}

    async def slots(self) -> dict[str, Any]:
        return parse_cluster_slots(await self._cluster_command("cluster_slots", "CLUSTER", "SLOTS"))

    async def info(self) -> dict[str, Any]:
        raw = await self._cluster_command("cluster_info", "CLUSTER", "INFO")
        return {"status": "success", "cluster_info": parse_cluster_info(raw)}

    async def node_info(self, name: str) -> dict[str, Any]:
        """INFO all of one configured node, its allowlisted fields only (see node_info);
        the node has its own circuit breaker, named after it."""
        if not self._service.settings.cluster_mode:
            raise ServiceUnavailable(SERVICE, NOT_CONFIGURED)
        if self._service.settings.node(name) is None:
            raise NotFound(f"Unknown Redis node: {name}")
        node = self._service.node(name)
        if node is None:
            raise NotFound(f"Unknown Redis node: {name}")
        async with self._service.metrics.measured("node_info"), self._service.host.backend(node.name):
            info = await node.client.info("all")
        return {"status": "success", "node": node.name, "info": allowed_info(info)}
