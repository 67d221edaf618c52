"""The hook implementations of the mysql plugin (the entry point target)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any

from prometheus_client import CollectorRegistry
from quart import Blueprint

from devstack import hookimpl
from devstack.api import HealthCheck, Host
from devstack_mysql.routes import build_blueprint
from devstack_mysql.service import SERVICE, MysqlService
from devstack_mysql.settings import MysqlSettings


def service_of(host: Host) -> MysqlService:
    """This application's service, created on first use."""
    return host.state(MysqlService, lambda: MysqlService(host))


DEVSTACK_PLUGIN_API = "1.0"  # the plugin API it was built for, checked by core at load


@hookimpl
def devstack_settings() -> type[MysqlSettings]:
    return MysqlSettings


@hookimpl
def devstack_secret_services(host: Host) -> list[str]:
    return [SERVICE]


@hookimpl
def devstack_routes(host: Host) -> Blueprint:
    return build_blueprint(service_of(host))


@hookimpl
def devstack_health_checks(host: Host) -> Iterable[HealthCheck]:
    service = service_of(host)
    return [
        HealthCheck(
            name=SERVICE,
            probe=service.probe,
            timeout=service.settings.timeout + 1.0,
            critical=True,
            description="SELECT VERSION() on a pooled connection",
        )
    ]


@hookimpl
def devstack_metrics(registry: CollectorRegistry, host: Host) -> None:
    service_of(host).metrics.bind(registry)


@hookimpl
async def devstack_startup(host: Host) -> None:
    service_of(host).start()


@hookimpl
async def devstack_shutdown(host: Host) -> None:
    await service_of(host).stop()


@hookimpl
def devstack_contract() -> Traversable:
    return files("devstack_mysql") / "contract.yaml"


@hookimpl
def devstack_root_info(host: Host) -> Mapping[str, Any]:
    return {"examples": {"databases": "/examples/database"}, "security": {"circuit_breakers": {"services": [SERVICE]}}}
