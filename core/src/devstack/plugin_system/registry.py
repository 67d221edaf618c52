"""Plugin discovery, isolation and the order of hook calls.

Each entry point of the ``devstack.plugins`` group is loaded and registered on its own.
A plugin that fails (import, registration, an unknown hook, a hook that raises while the
application is built or started) is recorded as failed with a short reason, logged, and
left out; the host serves the rest. In strict mode the same failure is fatal.

Hooks are called through pluggy (see :mod:`devstack.plugin_system.hookcalls`). pluggy calls the
implementation registered last first; devstack registers plugins in reverse name order,
so that without ``tryfirst``/``trylast`` implementations are called in plugin-name order.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import pluggy

from devstack.plugin_system import hookspecs
from devstack.plugin_system.compat import incompatibility
from devstack.plugin_system.failures import describe_failure, registration_reason, unknown_hooks_reason
from devstack.plugin_system.hookcalls import HookCalls
from devstack.plugin_system.records import PluginError, PluginRecord

log = logging.getLogger("devstack.plugins")

ENTRY_POINT_GROUP = "devstack.plugins"


def check_names(allow: list[str], deny: list[str], installed: list[str]) -> None:
    """A name in the allow or deny list that no installed plugin has is an error (a
    misspelled allowlist would otherwise silently serve no plugin at all)."""
    for setting, names in (("DEVSTACK_PLUGINS", allow), ("DEVSTACK_DISABLE_PLUGINS", deny)):
        unknown = sorted(set(names) - set(installed))
        if unknown:
            raise PluginError(
                f"{setting} names {', '.join(map(repr, unknown))}, which no installed plugin has "
                f"(installed: {', '.join(sorted(installed)) or 'none'}; the format is comma-separated names)"
            )


def package_of(plugin: object) -> str | None:
    """The top-level package of a plugin module or object."""
    module = plugin.__name__ if inspect.ismodule(plugin) else type(plugin).__module__
    return module.split(".")[0] if module else None


class PluginRegistry:
    """The pluggy manager plus one record per discovered plugin."""

    def __init__(self, strict: bool = False, *, lifecycle_timeout: float = 30.0, trace: bool = False) -> None:
        self.strict = strict
        self.pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self.records: dict[str, PluginRecord] = {}
        self.failed_names: set[str] = set()
        """Plugins that failed after loading (their routes answer 503)."""
        self.calls = HookCalls(self, lifecycle_timeout, trace)

    @property
    def hook(self) -> Any:
        """pluggy's hook relay: ``registry.hook.devstack_routes(host=host)``."""
        return self.pm.hook

    # discovery ------------------------------------------------------------------------
    def discover(
        self,
        allow: list[str] | None = None,
        deny: list[str] | None = None,
        extra: Mapping[str, object] | None = None,
    ) -> None:
        """Load every entry point of the group (plus ``extra`` plugin objects by name, for
        tests and embedding), one at a time, then register them in reverse name order:
        pluggy calls the last registered first, so calls go in plugin-name order."""
        points = sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)
        check_names(allow or [], deny or [], [ep.name for ep in points] + list(extra or {}))
        loaded: list[tuple[PluginRecord, object]] = []
        for entry_point in points:
            found = self._load_entry_point(entry_point, allow or [], deny or [])
            if found is not None:
                loaded.append(found)
        for name, plugin in (extra or {}).items():
            record = PluginRecord(name=name, package=package_of(plugin))
            self.records[name] = record
            loaded.append((record, plugin))
        for record, plugin in sorted(loaded, key=lambda item: item[0].name, reverse=True):
            self._register(record, plugin)

    def _load_entry_point(
        self, entry_point: EntryPoint, allow: list[str], deny: list[str]
    ) -> tuple[PluginRecord, object] | None:
        dist = entry_point.dist
        record = PluginRecord(
            name=entry_point.name,
            distribution=dist.name if dist is not None else None,
            version=dist.version if dist is not None else None,
            package=entry_point.module.split(".")[0],
        )
        if entry_point.name in self.records:
            self.fail(record, "discovery", PluginError("duplicate plugin name"))
            return None
        self.records[record.name] = record
        if (allow and record.name not in allow) or record.name in deny:
            record.status = "disabled"
            log.info("plugin disabled by settings", extra={"plugin": record.name})
            return None
        try:
            plugin = entry_point.load()
        except Exception as exc:  # noqa: BLE001 - isolation: any import failure
            self.fail(record, "import", exc)
            return None
        return record, plugin

    def register(self, plugin: object, name: str, distribution: str | None = None, version: str | None = None) -> None:
        """Register one plugin object directly (embedding). pluggy calls the plugin
        registered last first; ``discover(extra=...)`` keeps plugin-name order."""
        record = PluginRecord(name=name, distribution=distribution, version=version, package=package_of(plugin))
        self.records[name] = record
        self._register(record, plugin)

    def _register(self, record: PluginRecord, plugin: object) -> None:
        reason = incompatibility(plugin)
        if reason is not None:  # before any of its hooks can run
            self.fail(record, "compatibility", PluginError(reason), reason)
            return
        try:
            self.pm.register(self.calls.isolated(record, plugin), name=record.name)
        except Exception as exc:  # noqa: BLE001 - bad hook signatures and the like
            self.fail(record, "registration", exc, registration_reason(exc, plugin, record.package))
            return
        unknown = [
            impl.function.__name__
            for caller in self.pm.get_hookcallers(self.pm.get_plugin(record.name)) or []
            if not caller.has_spec()
            for impl in caller.get_hookimpls()
            if impl.plugin_name == record.name
        ]
        if unknown:
            known = [name for name in dir(hookspecs) if name.startswith("devstack_")]
            detail = unknown_hooks_reason(unknown, known, plugin, record.package)
            self.fail(record, "registration", PluginError("unknown hooks"), detail)
            return
        record.plugin = plugin
        callers = self.pm.get_hookcallers(self.pm.get_plugin(record.name)) or []
        record.hooks = sorted(caller.name for caller in callers if caller.has_spec())
        log.info(
            "plugin loaded",
            extra={"plugin": record.name, "distribution": record.distribution, "version": record.version},
        )

    def check(self) -> None:
        """pluggy's own check that every implementation has a spec."""
        self.pm.check_pending()

    # failures -------------------------------------------------------------------------
    def fail(self, record: PluginRecord, phase: str, exc: BaseException, detail: str | None = None) -> None:
        """Mark a plugin failed, take it out, and stop here in strict mode.

        ``detail`` replaces the exception's type in the reason when the caller can say
        safely what was wrong (the setting and its masked value)."""
        record.status = "failed"
        record.error = f"{phase} failed: {detail}" if detail else describe_failure(phase, exc, record.package)
        self.failed_names.add(record.name)
        self.records.setdefault(record.name, record)
        if record.plugin is not None or self.pm.has_plugin(record.name):
            self.pm.unregister(name=record.name)
        record.plugin = None
        log.error(
            "plugin failed",
            extra={
                "plugin": record.name,
                "distribution": record.distribution,
                "version": record.version,
                "phase": phase,
                "reason": record.error,
            },
        )
        if self.strict:
            raise PluginError(
                f"plugin {record.name!r} ({record.distribution} {record.version}): {record.error}"
            ) from None

    # calls ----------------------------------------------------------------------------
    def loaded(self) -> list[PluginRecord]:
        return [r for r in self.records.values() if r.status == "loaded"]

    def is_loaded(self, name: str) -> bool:
        record = self.records.get(name)
        return record is not None and record.status == "loaded"

    def loaded_names(self) -> list[str]:
        return [r.name for r in self.loaded()]
