"""devstack: a plugin-based service host for infrastructure APIs (Quart on Hypercorn)."""

from importlib.metadata import PackageNotFoundError, version

import pluggy

from devstack.plugin_system.hookspecs import PROJECT_NAME

hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
"""Marks a plugin's implementation of a ``devstack_*`` hook."""

try:
    __version__ = version("devstack-core")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = ["__version__", "hookimpl"]
