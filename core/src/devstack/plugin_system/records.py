"""What the host records about each plugin, and the error of a failing or conflicting one."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

PluginStatus = Literal["loaded", "failed", "disabled"]


class PluginError(Exception):
    """A plugin failed while strict mode is on, or plugins conflict."""


@dataclass
class PluginRecord:
    """What the host knows about one discovered plugin (served by ``GET /plugins``)."""

    name: str
    distribution: str | None = None
    version: str | None = None
    status: PluginStatus = "loaded"
    error: str | None = None
    hooks: list[str] = field(default_factory=list)
    routes: list[str] = field(default_factory=list)
    health_checks: list[str] = field(default_factory=list)
    plugin: object | None = None
    package: str | None = None
    """The plugin's top-level import package (where its failures are located)."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "status": self.status,
            "error": self.error,
            "hooks": sorted(self.hooks),
            "routes": sorted(self.routes),
            "health_checks": sorted(self.health_checks),
        }
