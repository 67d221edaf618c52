"""Which plugins this core can run: the plugin API version each one was built for.

A plugin declares the plugin API it was built for as ``DEVSTACK_PLUGIN_API = "1.0"`` on
its plugin module (or object). Core provides ``PLUGIN_API_VERSION`` (``devstack.api``):
a plugin runs when its major version is core's and its minor is not newer than core's
(1.0 runs on a 1.3 core; 1.4 needs a 1.4 core; 2.0 needs a 2.x core). A plugin that
declares nothing is taken as built for 1.0 (the API before versions were declared). The
distribution bounds ``devstack-core`` too (``devstack-core>=0.1,<0.2``), so that pip
refuses an incompatible pair before core has to.
"""

from __future__ import annotations

import re

PLUGIN_API_VERSION = "1.0"
"""The plugin API this core provides: the hooks, ``devstack.api`` and their meaning."""

DECLARATION = "DEVSTACK_PLUGIN_API"
UNDECLARED = "1.0"
VERSION = re.compile(r"^(\d+)\.(\d+)$")


def declared_api(plugin: object) -> object:
    return getattr(plugin, DECLARATION, UNDECLARED)


def incompatibility(plugin: object, provided: str = PLUGIN_API_VERSION) -> str | None:
    """Why this core cannot run ``plugin`` (None: it can)."""
    from devstack import __version__  # the package is initialised by the time a plugin loads

    wanted = declared_api(plugin)
    found = f"this core (devstack-core {__version__}) provides plugin API {provided}"
    match = VERSION.match(wanted) if isinstance(wanted, str) else None
    if match is None:
        return f"{DECLARATION} is {wanted!r}, not a version MAJOR.MINOR; {found}"
    major, minor = (int(part) for part in match.groups())
    core_major, core_minor = (int(part) for part in provided.split("."))
    if major != core_major or minor > core_minor:
        needs = f"{major}.{minor}" if major != core_major else f"{major}.{minor} or newer {major}.x"
        return f"built for plugin API {wanted}, needs a core providing {needs}; {found}"
    return None
