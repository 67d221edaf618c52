"""The plugin under test: what is installed under its name, and how the suite runs it.

A plugin may set ``DEVSTACK_CONFORMANCE`` (a mapping) on its plugin module or object:

- ``"unreachable"``: the environment that points it at a closed port, values formatted
  with ``{port}`` (default: every settings field named ``host``, ``port``, ``url``,
  ``addr`` or ending ``_url``/``_host``/``_port``/``_addr`` is pointed at 127.0.0.1 and
  the closed port);
- ``"env"``: environment for every app the suite builds (e.g. a key prefix of its own);
- ``"max_examples"``: a cap on the examples per operation (a plugin writing to a shared
  backend keeps it low).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic_settings import BaseSettings

from devstack.contract import load_fragment
from devstack.plugin_system.registry import ENTRY_POINT_GROUP

EXAMPLES_ENV = "DEVSTACK_CONFORMANCE_EXAMPLES"
DEFAULT_EXAMPLES = 10
ADDRESS_NAMES = ("host", "port", "url", "addr")


def installed_plugins() -> dict[str, EntryPoint]:
    return {point.name: point for point in entry_points(group=ENTRY_POINT_GROUP)}


def call_hook(plugin: object, hook: str, **kwargs: Any) -> Any:
    implementation = getattr(plugin, hook, None)
    return implementation(**kwargs) if callable(implementation) else None


@dataclass
class Subject:
    """One installed plugin, loaded on its own (outside any app)."""

    name: str
    plugin: object | None = None
    load_error: str | None = None
    others: dict[str, object] = field(default_factory=dict)
    requires: list[str] | None = None
    """The requirements of its distribution (None: no distribution metadata found)."""

    @classmethod
    def load(cls, name: str) -> Subject:
        points = installed_plugins()
        if name not in points:
            found = ", ".join(sorted(points)) or "none"
            return cls(name, load_error=f"no plugin {name!r} is installed (installed: {found})")
        subject = cls(name)
        dist = points[name].dist
        subject.requires = list(dist.requires or []) if dist is not None else None
        try:
            subject.plugin = points[name].load()
        except Exception as exc:  # noqa: BLE001 - reported by the plugin-loads rule
            subject.load_error = f"importing {points[name].value} raised {type(exc).__name__}"
        for other, point in sorted(points.items()):
            if other != name:
                try:
                    subject.others[other] = point.load()
                except Exception:  # noqa: BLE001 - a broken neighbour is its own suite's business
                    continue
        return subject

    @property
    def declared(self) -> Mapping[str, Any]:
        value = getattr(self.plugin, "DEVSTACK_CONFORMANCE", None)
        return value if isinstance(value, Mapping) else {}

    def fragment(self) -> dict[str, Any] | None:
        source = call_hook(self.plugin, "devstack_contract")
        return None if source is None else load_fragment(source)

    def other_fragments(self) -> dict[str, dict[str, Any]]:
        fragments = {}
        for name, plugin in self.others.items():
            try:
                source = call_hook(plugin, "devstack_contract")
                if source is not None:
                    fragments[name] = load_fragment(source)
            except Exception:  # noqa: BLE001 - its own suite reports it
                continue
        return fragments

    def settings_model(self) -> type[BaseSettings] | None:
        model = call_hook(self.plugin, "devstack_settings")
        return model if isinstance(model, type) and issubclass(model, BaseSettings) else None

    def max_examples(self) -> int:
        wanted = int(os.environ.get(EXAMPLES_ENV) or DEFAULT_EXAMPLES)
        cap = self.declared.get("max_examples")
        return max(1, min(wanted, int(cap)) if cap else wanted)

    def timeout(self) -> float:
        """The longest the plugin may take to answer: its largest ``*timeout*`` setting
        (its own default when the settings cannot be read) or core's backend timeout,
        whichever is larger, plus a second of overhead."""
        model = self.settings_model()
        longest = 5.0
        if model is not None:
            try:
                values: Mapping[str, Any] = model().model_dump()
            except Exception:  # noqa: BLE001 - the settings rule reports a model that cannot be built
                values = {name: info.default for name, info in model.model_fields.items()}
            for name, value in values.items():
                if "timeout" in name and isinstance(value, int | float) and not isinstance(value, bool):
                    longest = max(longest, float(value))
        return longest + 1.0

    def env(self) -> dict[str, str]:
        """The environment of every app of the suite: this plugin only, not strict (the
        rules report what strict mode would stop at), no rate limit."""
        return {
            "DEVSTACK_PLUGINS": self.name,
            "DEVSTACK_STRICT_PLUGINS": "false",
            "DEVSTACK_RATE_LIMIT_ENABLED": "false",
            **{str(k): str(v) for k, v in (self.declared.get("env") or {}).items()},
        }

    def unreachable_env(self, port: int) -> dict[str, str]:
        """The environment that points the plugin's backend at a closed ``port``."""
        declared = self.declared.get("unreachable")
        if isinstance(declared, Mapping):
            return {str(k): str(v).format(port=port) for k, v in declared.items()}
        model = self.settings_model()
        if model is None:
            return {}
        prefix = str(model.model_config.get("env_prefix") or "")
        env = {}
        for field_name, info in model.model_fields.items():
            last = field_name.rsplit("_", 1)[-1]
            if last not in ADDRESS_NAMES:
                continue
            name = (prefix + field_name).upper()
            value = pointed(last, os.environ.get(name, info.default), port)
            if value is not None:
                env[name] = value
        return env


def pointed(kind: str, default: object, port: int) -> str | None:
    """A setting's value pointing at 127.0.0.1:``port``."""
    if kind == "host":
        return "127.0.0.1"
    if kind == "port":
        return str(port)
    if isinstance(default, str) and "://" in default:
        parts = urlsplit(default)
        return urlunsplit((parts.scheme, f"127.0.0.1:{port}", parts.path, parts.query, parts.fragment))
    return None
