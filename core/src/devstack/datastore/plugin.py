"""The hook implementations of a database plugin, once for every driver.

A plugin's ``plugin.py`` is ``plugin = DatastorePlugin(PostgresStore, plugin_api="1.0")``
(the plugin API it was built for, which core checks at load), and its entry
point names that object (``devstack_postgres.plugin:plugin``). The contract is the
``contract.yaml`` beside the driver's package.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any

from prometheus_client import CollectorRegistry
from pydantic_settings import BaseSettings
from quart import Blueprint

from devstack import hookimpl
from devstack.datastore.routes import records_blueprint
from devstack.datastore.service import DatastoreService
from devstack.datastore.store import Datastore
from devstack.plugin_system.contributions import HealthCheck
from devstack.plugin_system.host import Host


class DatastorePlugin:
    """The hooks of the plugin whose driver is ``store_class``."""

    def __init__(self, store_class: type[Datastore[Any, Any]], *, plugin_api: str) -> None:
        self.store_class = store_class
        self.DEVSTACK_PLUGIN_API = plugin_api  # read by core's compatibility check
        self.package = store_class.__module__.split(".")[0]
        # host.state keeps one object per type: each plugin's service has a type of its own
        self.service_class: type[DatastoreService[Any]] = type(
            f"{store_class.__name__}Service", (DatastoreService,), {"__module__": store_class.__module__}
        )

    def service_of(self, host: Host) -> DatastoreService[Any]:
        """This application's service, created on first use."""
        store_class, service_class = self.store_class, self.service_class
        return host.state(
            service_class,
            lambda: service_class(host, store_class(host.settings(store_class.settings_model))),
        )

    @hookimpl
    def devstack_settings(self) -> type[BaseSettings]:
        return self.store_class.settings_model

    @hookimpl
    def devstack_secret_services(self, host: Host) -> list[str]:
        return [host.settings(self.store_class.settings_model).secrets_service or self.store_class.name]

    @hookimpl
    def devstack_routes(self, host: Host) -> Blueprint:
        return records_blueprint(self.service_of(host))

    @hookimpl
    def devstack_health_checks(self, host: Host) -> Iterable[HealthCheck]:
        return [self.service_of(host).health_check()]

    @hookimpl
    def devstack_metrics(self, registry: CollectorRegistry, host: Host) -> None:
        self.service_of(host).metrics.bind(registry)

    @hookimpl
    async def devstack_startup(self, host: Host) -> None:
        self.service_of(host).start()

    @hookimpl
    async def devstack_shutdown(self, host: Host) -> None:
        await self.service_of(host).stop()

    @hookimpl
    def devstack_contract(self) -> Traversable:
        return files(self.package) / "contract.yaml"

    @hookimpl
    def devstack_root_info(self, host: Host) -> Mapping[str, Any]:
        return {
            "examples": {"databases": "/examples/database"},
            "security": {"circuit_breakers": {"services": [self.store_class.name]}},
        }
