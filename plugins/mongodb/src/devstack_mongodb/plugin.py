"""The hook implementations of the MongoDB plugin (the ``devstack.plugins`` entry point)."""

from __future__ import annotations

from collections.abc import Mapping
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any

from prometheus_client import CollectorRegistry
from quart import Blueprint

from devstack import hookimpl
from devstack.api import HealthCheck, Host
from devstack_mongodb.health import health_check
from devstack_mongodb.metrics import MongoMetrics
from devstack_mongodb.routes import build_blueprint
from devstack_mongodb.service import SERVICE, MongoService
from devstack_mongodb.settings import MongoSettings


def service_of(host: Host) -> MongoService:
    """The application's one service (created by the first hook that needs it)."""
    return host.state(MongoService, lambda: MongoService(host, host.settings(MongoSettings)))


DEVSTACK_PLUGIN_API = "1.0"  # the plugin API it was built for, checked by core at load


@hookimpl
def devstack_settings() -> type[MongoSettings]:
    return MongoSettings


@hookimpl
def devstack_secret_services(host: Host) -> list[str]:
    return [host.settings(MongoSettings).secrets_service]


@hookimpl
def devstack_routes(host: Host) -> Blueprint:
    return build_blueprint(service_of(host))


@hookimpl
def devstack_health_checks(host: Host) -> list[HealthCheck]:
    return [health_check(service_of(host))]


@hookimpl
def devstack_metrics(registry: CollectorRegistry, host: Host) -> None:
    service_of(host).metrics = MongoMetrics(registry)


@hookimpl
async def devstack_startup(host: Host) -> None:
    await service_of(host).start()


@hookimpl
async def devstack_shutdown(host: Host) -> None:
    await service_of(host).stop()


@hookimpl
def devstack_contract() -> Traversable:
    return files("devstack_mongodb") / "contract.yaml"


@hookimpl
def devstack_root_info(host: Host) -> Mapping[str, Any]:
    return {
        "examples": {"databases": "/examples/database"},
        "security": {"circuit_breakers": {"services": [SERVICE]}},
    }
