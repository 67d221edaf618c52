"""Choosing the application a test runs: plugins, environment and core settings.

A :class:`AppSpec` is what the ``devstack_*`` fixtures build from: the conftest's
``devstack_plugins`` / ``devstack_env`` / ``devstack_core_settings`` fixtures, overridden
per test by ``@pytest.mark.devstack(plugins=..., env=..., **core_settings)``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from quart import Quart
from quart.typing import TestClientProtocol

from devstack.testing import ServerProcess, running_app

PluginChoice = Sequence[str] | Mapping[str, object] | None
"""None: every installed plugin; names: those installed plugins only (an allowlist);
a mapping name -> module or object: exactly these, registered by hand."""


@dataclass
class AppSpec:
    plugins: PluginChoice = None
    env: dict[str, str | None] = field(default_factory=dict)
    core_settings: dict[str, Any] = field(default_factory=dict)

    def merged(self, plugins: PluginChoice, env: Mapping[str, str | None], settings: Mapping[str, Any]) -> AppSpec:
        """This spec with a marker's values on top."""
        return AppSpec(
            plugins=plugins if plugins is not None else self.plugins,
            env={**self.env, **env},
            core_settings={**self.core_settings, **settings},
        )

    def running_args(self) -> dict[str, Any]:
        """Keyword arguments of ``devstack.testing.running_app``. Names become core's
        ``DEVSTACK_PLUGINS`` allowlist (comma-separated), read while the app is built."""
        env = dict(self.env)
        args: dict[str, Any] = dict(self.core_settings)
        if isinstance(self.plugins, Mapping):
            args.update(plugins=dict(self.plugins), discover=False)
        elif self.plugins is not None:
            env["DEVSTACK_PLUGINS"] = ",".join(self.plugins)
        args["env"] = env
        return args

    def server_env(self) -> dict[str, str]:
        """The environment of ``devstack serve`` for this spec (names only: a server
        process cannot be given plugin objects)."""
        if isinstance(self.plugins, Mapping):
            raise TypeError("a served app loads installed plugins only: give devstack_plugins as names")
        env = {key: value for key, value in os.environ.items() if self.env.get(key, "") is not None}
        env.update({key: value for key, value in self.env.items() if value is not None})
        if self.plugins is not None:
            env["DEVSTACK_PLUGINS"] = ",".join(self.plugins)
        for key, value in self.core_settings.items():
            env[f"DEVSTACK_{key.upper()}"] = str(value).lower() if isinstance(value, bool) else str(value)
        return env


@asynccontextmanager
async def app_for(spec: AppSpec) -> AsyncIterator[tuple[Quart, TestClientProtocol]]:
    """A started application for a spec and its Quart test client."""
    async with running_app(**spec.running_args()) as pair:
        yield pair


def server_for(spec: AppSpec, args: list[str] | None = None) -> ServerProcess:
    """A ``devstack serve`` process for a spec (not started)."""
    process = ServerProcess(args=args)
    process.env = {**spec.server_env(), "DEVSTACK_PORT": str(process.port)}
    return process
