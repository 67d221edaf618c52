"""The vault plugin's hook implementations."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any

from prometheus_client import CollectorRegistry
from quart import Blueprint

from devstack import hookimpl
from devstack.api import HealthCheck, Host, TlsMaterial
from devstack_vault.background import background_of
from devstack_vault.health import health_check
from devstack_vault.metrics import VaultMetrics
from devstack_vault.names import safe_name
from devstack_vault.routes import build_blueprint
from devstack_vault.service import SERVICE, service_of
from devstack_vault.settings import VaultSettings
from devstack_vault.tls import issue_tls_material

DEVSTACK_PLUGIN_API = "1.0"  # the plugin API it was built for, checked by core at load
# the conformance suite writes its secrets to the shared OpenBao: few examples per operation
DEVSTACK_CONFORMANCE = {"max_examples": 3}


@hookimpl
def devstack_settings() -> type[VaultSettings]:
    return VaultSettings


@hookimpl
def devstack_routes(host: Host) -> Blueprint:
    return build_blueprint(host, service_of(host))


@hookimpl
def devstack_health_checks(host: Host) -> Iterable[HealthCheck]:
    return [health_check(service_of(host))]


@hookimpl
def devstack_metrics(registry: CollectorRegistry, host: Host) -> None:
    service_of(host).use_metrics(VaultMetrics(registry))


@hookimpl
async def devstack_startup(host: Host) -> None:
    background_of(host).start()


@hookimpl
async def devstack_shutdown(host: Host) -> None:
    await background_of(host).stop()
    service = service_of(host)
    await service.secrets.close()
    await service.shutdown()


@hookimpl
async def devstack_secrets(service: str, host: Host) -> Mapping[str, str] | None:
    return await service_of(host).secrets.get(safe_name(service))


@hookimpl
async def devstack_tls_certificate(host: Host) -> TlsMaterial | None:
    service = service_of(host)
    if not service.settings.pki_enabled:
        return None
    return await issue_tls_material(service)


@hookimpl
def devstack_contract() -> Traversable:
    return files("devstack_vault") / "contract.yaml"


@hookimpl
def devstack_root_info(host: Host) -> Mapping[str, Any]:
    return {
        "examples": {"vault": "/examples/vault"},
        "security": {"circuit_breakers": {"services": [SERVICE]}},
        # the secrets provider says where credentials come from (core names no provider)
        "note": "Every service's credentials come from the secrets provider (Vault)",
    }
