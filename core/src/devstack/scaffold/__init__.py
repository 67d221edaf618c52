"""``devstack new-plugin NAME``: writes a complete plugin distribution ``devstack-NAME``.

The files come from the templates in ``template/*.tmpl`` (package data of devstack-core),
filled in with :class:`PluginTemplate`: ``%{name}`` placeholders, so that the ``$ref``
of a contract and the ``{...}`` of Python and YAML need no escaping. What is written is
a distribution that builds (hatchling, the contract as package data), installs beside
devstack-core and passes its own tests as it is.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

from devstack import __version__
from devstack.plugin_system.compat import PLUGIN_API_VERSION

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")
RESERVED = frozenset({"core", "all", "live", "ready", "api", "plugins", "health", "metrics", "docs"})
MAX_NAME = 40

# where each template goes in the distribution (``%{...}`` filled in as in the files)
LAYOUT = {
    "pyproject.toml": "pyproject.toml.tmpl",
    "README.md": "README.md.tmpl",
    "LICENSE": "LICENSE.tmpl",
    "tox.ini": "tox.ini.tmpl",
    ".gitignore": "gitignore.tmpl",
    "src/%{module}/__init__.py": "init.py.tmpl",
    "src/%{module}/py.typed": "py.typed.tmpl",
    "src/%{module}/plugin.py": "plugin.py.tmpl",
    "src/%{module}/settings.py": "settings.py.tmpl",
    "src/%{module}/routes.py": "routes.py.tmpl",
    "src/%{module}/contract.yaml": "contract.yaml.tmpl",
    "tests/conftest.py": "conftest.py.tmpl",
    "tests/test_%{ident}.py": "test_plugin.py.tmpl",
}


class ScaffoldError(Exception):
    """The name or the output directory cannot be used (said so a person can fix it)."""


class PluginTemplate(string.Template):
    delimiter = "%"


@dataclass(frozen=True)
class PluginNames:
    """Every spelling of a plugin's name the templates use."""

    name: str  # weather-api: the plugin name, entry point, route prefix, health check
    ident: str  # weather_api: operation ids, test module
    module: str  # devstack_weather_api
    distribution: str  # devstack-weather-api
    title: str  # WeatherApi: class names and the tag
    prefix: str  # WEATHER_API_: the settings' environment prefix
    core_requirement: str  # devstack-core>=0.1.0,<0.2
    conformance_requirement: str  # devstack-core[conformance]>=0.1.0,<0.2: the suite's own needs
    plugin_api: str  # 1.0: the plugin API this core provides (DEVSTACK_PLUGIN_API)

    @classmethod
    def of(cls, name: str) -> PluginNames:
        if len(name) > MAX_NAME or not NAME_PATTERN.match(name):
            raise ScaffoldError(
                f"plugin name {name!r} cannot be used: lowercase letters and digits, words joined by '-', "
                f"starting with a letter, at most {MAX_NAME} characters (e.g. weather or weather-api)"
            )
        if name in RESERVED:
            raise ScaffoldError(f"plugin name {name!r} is taken by core's own routes or names; choose another")
        ident = name.replace("-", "_")
        return cls(
            name=name,
            ident=ident,
            module=f"devstack_{ident}",
            distribution=f"devstack-{name}",
            title="".join(part.capitalize() for part in name.split("-")),
            prefix=f"{ident.upper()}_",
            core_requirement=core_requirement(__version__),
            conformance_requirement=core_requirement(__version__).replace(
                "devstack-core", "devstack-core[conformance]"
            ),
            plugin_api=PLUGIN_API_VERSION,
        )


def core_requirement(version: str) -> str:
    """The bounded devstack-core requirement of a new plugin: this core's release or a
    newer compatible one (below the next minor while core is 0.x, below the next major
    after that: where the plugin API may change)."""
    parts = [*version.split("."), "0"][:2]
    major, minor = (int(p) if p.isdigit() else 0 for p in parts)
    if major == 0:
        return f"devstack-core>=0.{minor}.0,<0.{minor + 1}"
    return f"devstack-core>={major}.{minor},<{major + 1}"


def render(names: PluginNames) -> dict[str, str]:
    """The distribution's files: relative path -> text."""
    values = vars(names)
    template_dir = files("devstack.scaffold").joinpath("template")
    rendered: dict[str, str] = {}
    for target, source in LAYOUT.items():
        text = template_dir.joinpath(source).read_text(encoding="utf-8")
        rendered[PluginTemplate(target).substitute(values)] = PluginTemplate(text).substitute(values)
    return rendered


def new_plugin(name: str, output: Path) -> Path:
    """Write ``devstack-NAME`` under ``output``; return its directory. Refuses to write
    into a directory that exists and is not empty (nothing is overwritten)."""
    names = PluginNames.of(name)
    root = output / names.distribution
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise ScaffoldError(f"{root} exists and is not empty: choose another --output or remove it")
    rendered = render(names)
    try:
        for relative, text in rendered.items():
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ScaffoldError(f"cannot write {root}: {exc.strerror or type(exc).__name__}") from None
    return root


def add_command(sub: Any) -> None:
    """``devstack new-plugin NAME [--output DIR]`` (``sub``: the CLI's subparsers)."""
    command = sub.add_parser("new-plugin", help="write a new plugin distribution devstack-NAME (tests included)")
    command.add_argument("name", metavar="NAME", help="the plugin's name, e.g. weather (distribution devstack-weather)")
    command.add_argument(
        "--output", "-o", default=".", metavar="DIR", help="where devstack-NAME/ is written (default .)"
    )
    command.set_defaults(func=lambda args: written(new_plugin(args.name, Path(args.output))))


def written(root: Path) -> int:
    print(f"wrote {root}")
    print(f"next: cd {root} && python -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/pytest")
    return 0
