"""The hook implementations of the RabbitMQ plugin (entry point ``rabbitmq``)."""

from __future__ import annotations

from collections.abc import Mapping
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any

from prometheus_client import CollectorRegistry
from pydantic_settings import BaseSettings
from quart import Blueprint

from devstack import hookimpl
from devstack.api import HealthCheck, Host
from devstack_rabbitmq.health import health_check
from devstack_rabbitmq.routes import build_blueprint
from devstack_rabbitmq.service import MANAGEMENT_SERVICE, SERVICE, service_of
from devstack_rabbitmq.settings import RabbitMQSettings

DEVSTACK_PLUGIN_API = "1.0"  # the plugin API it was built for, checked by core at load


@hookimpl
def devstack_settings() -> type[BaseSettings]:
    return RabbitMQSettings


@hookimpl
def devstack_secret_services(host: Host) -> list[str]:
    return [host.settings(RabbitMQSettings).secrets_service]


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
async def devstack_startup(host: Host) -> None:
    await service_of(host).start()


@hookimpl
async def devstack_shutdown(host: Host) -> None:
    await service_of(host).stop()


@hookimpl
def devstack_contract() -> Traversable:
    return files("devstack_rabbitmq") / "contract.yaml"


@hookimpl
def devstack_root_info(host: Host) -> Mapping[str, Any]:
    return {
        "examples": {"messaging": "/examples/messaging"},
        "security": {"circuit_breakers": {"services": [SERVICE, MANAGEMENT_SERVICE]}},
    }
