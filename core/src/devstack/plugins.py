"""Plugin discovery, isolation and per-plugin hook calls.

Each entry point of the ``devstack.plugins`` group is loaded and registered on its own.
A plugin that fails (import, registration, an unknown hook, a hook that raises while the
application is built or started) is recorded as failed with a short reason, logged, and
left out; the host serves the rest. In strict mode the same failure is fatal.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Literal

import pluggy

from devstack import hookspecs

log = logging.getLogger("devstack.plugins")

ENTRY_POINT_GROUP = "devstack.plugins"

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


def describe_failure(phase: str, exc: BaseException) -> str:
    """A short, safe reason: the phase and the exception's type (never its text)."""
    reason = f"{phase} failed: {type(exc).__name__}"
    missing = getattr(exc, "name", None)
    if isinstance(exc, ModuleNotFoundError) and missing:
        reason += f" (no module named {missing!r})"
    return reason


class PluginRegistry:
    """The pluggy manager plus one record per discovered plugin."""

    def __init__(self, strict: bool = False) -> None:
        self.strict = strict
        self.pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self.records: dict[str, PluginRecord] = {}

    # discovery ------------------------------------------------------------------------
    def discover(self, allow: list[str] | None = None, deny: list[str] | None = None) -> None:
        """Load every entry point of the group, one at a time."""
        for entry_point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name):
            self._load_entry_point(entry_point, allow or [], deny or [])

    def _load_entry_point(self, entry_point: EntryPoint, allow: list[str], deny: list[str]) -> None:
        dist = entry_point.dist
        record = PluginRecord(
            name=entry_point.name,
            distribution=dist.name if dist is not None else None,
            version=dist.version if dist is not None else None,
        )
        if entry_point.name in self.records:
            self.fail(record, "discovery", PluginError("duplicate plugin name"))
            return
        self.records[record.name] = record
        if (allow and record.name not in allow) or record.name in deny:
            record.status = "disabled"
            log.info("plugin disabled by settings", extra={"plugin": record.name})
            return
        try:
            plugin = entry_point.load()
        except Exception as exc:  # noqa: BLE001 - isolation: any import failure
            self.fail(record, "import", exc)
            return
        self._register(record, plugin)

    def register(self, plugin: object, name: str, distribution: str | None = None, version: str | None = None) -> None:
        """Register a plugin object directly (tests, embedding)."""
        record = PluginRecord(name=name, distribution=distribution, version=version)
        self.records[name] = record
        self._register(record, plugin)

    def _register(self, record: PluginRecord, plugin: object) -> None:
        try:
            self.pm.register(plugin, name=record.name)
        except Exception as exc:  # noqa: BLE001 - bad hook signatures and the like
            self.fail(record, "registration", exc)
            return
        unknown = [
            impl.function.__name__
            for caller in self.pm.get_hookcallers(plugin) or []
            if not caller.has_spec()
            for impl in caller.get_hookimpls()
            if impl.plugin_name == record.name
        ]
        if unknown:
            self.fail(record, "registration", PluginError("unknown hooks"))
            record.error = f"registration failed: unknown hooks {sorted(unknown)}"
            return
        record.plugin = plugin
        record.hooks = sorted(caller.name for caller in self.pm.get_hookcallers(plugin) or [] if caller.has_spec())
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
        record.error = f"{phase} failed: {detail}" if detail else describe_failure(phase, exc)
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

    def loaded_names(self) -> list[str]:
        return [r.name for r in self.loaded()]

    def implementations(self, hook_name: str) -> Iterator[tuple[PluginRecord, pluggy.HookImpl]]:
        """Each loaded plugin's implementation of a hook, in plugin-name order."""
        caller = getattr(self.pm.hook, hook_name)
        impls = {impl.plugin_name: impl for impl in caller.get_hookimpls()}
        for name in sorted(impls):
            record = self.records.get(name)
            if record is not None and record.status == "loaded":
                yield record, impls[name]

    @staticmethod
    def invoke(impl: pluggy.HookImpl, kwargs: dict[str, Any]) -> Any:
        return impl.function(*[kwargs[arg] for arg in impl.argnames])

    def call_each(self, hook_name: str, phase: str | None = None, **kwargs: Any) -> list[tuple[PluginRecord, Any]]:
        """Call every plugin's implementation; a plugin that raises is failed (isolation)."""
        results: list[tuple[PluginRecord, Any]] = []
        for record, impl in list(self.implementations(hook_name)):
            try:
                results.append((record, self.invoke(impl, kwargs)))
            except Exception as exc:  # noqa: BLE001 - isolation
                self.fail(record, phase or hook_name, exc)
        return results

    async def call_each_awaited(
        self, hook_name: str, phase: str | None = None, **kwargs: Any
    ) -> list[tuple[PluginRecord, Any]]:
        """Like call_each, awaiting what each implementation returns."""
        results: list[tuple[PluginRecord, Any]] = []
        for record, impl in list(self.implementations(hook_name)):
            try:
                result = self.invoke(impl, kwargs)
                if inspect.isawaitable(result):
                    result = await result
                results.append((record, result))
            except Exception as exc:  # noqa: BLE001 - isolation
                self.fail(record, phase or hook_name, exc)
        return results

    def call_each_async(self, hook_name: str, **kwargs: Any) -> Iterator[Awaitable[Any]]:
        """Awaitables of each implementation, for callers that stop at the first answer."""
        for _record, impl in list(self.implementations(hook_name)):
            result = self.invoke(impl, kwargs)
            if inspect.isawaitable(result):
                yield result
            else:
                yield _ready(result)


async def _ready(value: Any) -> Any:
    return value
