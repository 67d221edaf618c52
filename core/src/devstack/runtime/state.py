"""What core keeps about one running application (``app.extensions["devstack"]``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic_settings import BaseSettings
from quart import Quart

from devstack.contract.validation import OperationValidator
from devstack.foundation.settings import CoreSettings
from devstack.http.pipeline import Guards, RequestPipeline
from devstack.http.route_table import RouteTable
from devstack.observability.metrics import CoreMetrics
from devstack.plugin_system.host import Host
from devstack.plugin_system.registry import PluginRegistry
from devstack.runtime.health import HealthChecks
from devstack.runtime.tls import TlsManager

EXTENSION = "devstack"


@dataclass
class DevstackState:
    """Everything core keeps about a running application.

    Filled in the order ``devstack.runtime.app.create_app`` builds it: the plugins and
    the guards first, the contract, the routes, then the frozen route table and the
    pipeline that reads it.
    """

    settings: CoreSettings
    registry: PluginRegistry
    host: Host
    metrics: CoreMetrics
    health: HealthChecks
    guards: Guards
    contract: dict[str, Any] = field(default_factory=dict)
    validators: dict[tuple[str, str], OperationValidator] = field(default_factory=dict)
    rule_paths: dict[str, str] = field(default_factory=dict)
    route_owners: dict[tuple[str, str], str] = field(default_factory=dict)
    settings_models: dict[str, type[BaseSettings]] = field(default_factory=dict)
    contract_gaps: list[str] = field(default_factory=list)
    routes: RouteTable | None = None
    pipeline: RequestPipeline | None = None
    tls: TlsManager | None = None
    started: list[str] = field(default_factory=list)
    shutting_down: bool = False


def state_of(app: Quart) -> DevstackState:
    state: DevstackState = app.extensions[EXTENSION]
    return state
