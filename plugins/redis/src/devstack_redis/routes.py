"""The plugin's HTTP endpoints (one Blueprint per application)."""

from __future__ import annotations

from quart import Blueprint, Response, jsonify

from devstack.api import validated
from devstack_redis.examples import CacheExamples
from devstack_redis.management import ClusterManagement
from devstack_redis.service import RedisService


def build_blueprint(service: RedisService) -> Blueprint:
    """Cache examples, pattern search and the Redis Cluster endpoints.

    Every constraint on the inputs is in contract.yaml; handlers read the validated values.
    """
    blueprint = Blueprint("redis", __name__)
    examples = CacheExamples(service)
    cluster = ClusterManagement(service)

    @blueprint.get("/examples/cache/<key>")
    async def cache_get(key: str) -> Response:
        return jsonify(await examples.get(validated().path["key"]))

    @blueprint.post("/examples/cache/<key>")
    async def cache_set(key: str) -> Response:
        request = validated()
        return jsonify(await examples.set(request.path["key"], request.query["value"], request.query.get("ttl")))

    @blueprint.delete("/examples/cache/<key>")
    async def cache_delete(key: str) -> Response:
        return jsonify(await examples.delete(validated().path["key"]))

    @blueprint.get("/examples/cache/pattern/<pattern>")
    async def cache_search(pattern: str) -> Response:
        request = validated()
        return jsonify(await examples.search(request.path["pattern"], request.query["limit"]))

    @blueprint.get("/redis/cluster/nodes")
    async def cluster_nodes() -> Response:
        return jsonify(await cluster.nodes())

    @blueprint.get("/redis/cluster/slots")
    async def cluster_slots() -> Response:
        return jsonify(await cluster.slots())

    @blueprint.get("/redis/cluster/info")
    async def cluster_info() -> Response:
        return jsonify(await cluster.info())

    @blueprint.get("/redis/nodes/<node_name>/info")
    async def node_info(node_name: str) -> Response:
        return jsonify(await cluster.node_info(validated().path["node_name"]))

    return blueprint
