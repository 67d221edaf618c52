"""The hook implementations of the redis plugin (the ``devstack.plugins`` entry point)."""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any

from prometheus_client import CollectorRegistry
from quart import Blueprint

from devstack import hookimpl
from devstack.api import CacheBackend, HealthCheck, Host
from devstack_redis.health import health_check
from devstack_redis.routes import build_blueprint
from devstack_redis.service import SERVICE, service_of
from devstack_redis.settings import RedisSettings
from devstack_redis.shared_cache import RedisCache

DEVSTACK_PLUGIN_API = "1.0"  # the plugin API it was built for, checked by core at load
# the conformance suite's backend outage: the standalone URL and no cluster nodes, at a closed port
DEVSTACK_CONFORMANCE = {"unreachable": {"REDIS_URL": "redis://127.0.0.1:{port}/0", "REDIS_NODES": ""}}


@hookimpl
def devstack_settings() -> type[RedisSettings]:
    return RedisSettings


@hookimpl
def devstack_secret_services(host: Host) -> list[str]:
    """The cluster's secret and one per node (standalone Redis reads no secret)."""
    settings = host.settings(RedisSettings)
    cluster = settings.cluster_secrets_service()
    return [*([cluster] if cluster else []), *(node.name for node in settings.nodes)]


@hookimpl
def devstack_routes(host: Host) -> Blueprint:
    return build_blueprint(service_of(host))


@hookimpl
def devstack_health_checks(host: Host) -> list[HealthCheck]:
    return [health_check(service_of(host))]


@hookimpl
def devstack_metrics(registry: CollectorRegistry, host: Host) -> None:
    service_of(host).metrics.bind(registry)


@hookimpl
def devstack_cache_backend(host: Host) -> CacheBackend:
    return RedisCache(service_of(host))


@hookimpl
async def devstack_startup(host: Host) -> None:
    await service_of(host).start()


@hookimpl
async def devstack_shutdown(host: Host) -> None:
    await service_of(host).stop()


@hookimpl
def devstack_contract() -> Traversable:
    return files("devstack_redis") / "contract.yaml"


@hookimpl
def devstack_root_info(host: Host) -> dict[str, Any]:
    settings = service_of(host).settings
    return {
        "redis_cluster": {
            "nodes": "/redis/cluster/nodes",
            "slots": "/redis/cluster/slots",
            "info": "/redis/cluster/info",
            "node_info": "/redis/nodes/{node_name}/info",
        },
        "examples": {"cache": "/examples/cache"},
        "security": {"circuit_breakers": {"services": [SERVICE, *(node.name for node in settings.nodes)]}},
    }
