"""The INFO that /health/redis asks each node for: the sections it reads, or all of it
from a server that takes one section per INFO (Redis before 7)."""

from __future__ import annotations

from typing import Any

from devstack_redis.health import INFO_SECTIONS, RedisHealth
from devstack_redis.service import NodeClient, service_of
from redis.exceptions import ResponseError
from redis_support import Target

from devstack.testing import host_of, running_app


class OneSectionInfo:
    """A real node's client whose INFO, like Redis 6's, refuses more than one section."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.asked: list[tuple[str, ...]] = []

    async def info(self, *sections: str) -> Any:
        self.asked.append(sections)
        if len(sections) > 1:
            raise ResponseError("syntax error")
        return await self.client.info(*sections)


async def test_only_the_sections_read(cluster: Target) -> None:
    async with running_app(env=cluster.env) as (app, _client):
        service = service_of(host_of(app))
        health = RedisHealth(service)
        for node in service.nodes():
            info = await health.node_info(node)
            assert info["redis_version"] and info["role"] == "master" and info["cluster_enabled"] == 1
            assert "connected_clients" in info and "used_memory_human" in info
            assert "uptime_in_seconds" in info and "rdb_changes_since_last_save" not in info  # persistence: not asked


async def test_a_server_refusing_several_sections_gets_the_full_info(cluster: Target) -> None:
    async with running_app(env=cluster.env) as (app, _client):
        service = service_of(host_of(app))
        health = RedisHealth(service)
        node = service.nodes()[0]
        older = OneSectionInfo(node.client)
        stand_in = NodeClient(node.name, node.host, node.port, older)  # type: ignore[arg-type]
        first = await health.node_info(stand_in)
        second = await health.node_info(stand_in)
    assert first["redis_version"] == second["redis_version"]
    assert "rdb_changes_since_last_save" in first  # the full INFO
    assert older.asked == [INFO_SECTIONS, (), ()]  # refused once, then not asked again
