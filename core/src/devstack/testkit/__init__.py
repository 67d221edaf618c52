"""The plugin author's test kit: what a plugin's tests import from core.

Fixtures come from the pytest plugin (:mod:`devstack.testkit.pytest_plugin`, loaded
automatically); the helpers are imported from here::

    from devstack.testkit import Contract, VaultSecrets, eventually, require_env, wait_health
"""

from __future__ import annotations

from devstack.testing import ServerProcess, environment, free_port, host_of, running_app
from devstack.testkit.app import AppSpec, PluginChoice, app_for, server_for
from devstack.testkit.contract import Contract, resolve
from devstack.testkit.helpers import (
    closed_port,
    eventually,
    json_of,
    metric,
    require_backend,
    require_env,
    wait_health,
)
from devstack.testkit.secrets import VaultSecrets

__all__ = [
    "AppSpec",
    "Contract",
    "PluginChoice",
    "ServerProcess",
    "VaultSecrets",
    "app_for",
    "closed_port",
    "environment",
    "eventually",
    "free_port",
    "host_of",
    "json_of",
    "metric",
    "require_backend",
    "require_env",
    "resolve",
    "running_app",
    "server_for",
    "wait_health",
]
