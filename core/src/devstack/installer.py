"""``devstack install`` / ``devstack uninstall`` / ``devstack plugins --requirements``.

Plugins are installed into the environment devstack runs from (``sys.executable``), with
uv when it is there, else pip. Before anything is served, what each new plugin adds is
shown (its routes and their operations) from a fresh process that builds the application
with every installed plugin; a plugin that collides with what is installed (a route, a
health check, an operation defined differently, a plugin name) or fails to load is
refused: what the install added is removed again and what it upgraded is put back.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from importlib.metadata import distributions
from pathlib import Path
from typing import Any

from devstack.plugin_system.registry import ENTRY_POINT_GROUP

CORE_DISTRIBUTION = "devstack-core"
DESCRIBE_TIMEOUT = 120.0


class InstallError(Exception):
    """The installer failed or a plugin was refused (said so a person can act on it)."""


def canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def installed() -> dict[str, str]:
    """Every distribution of this environment: canonical name -> version."""
    return {canonical(d.metadata["Name"]): d.version for d in distributions() if d.metadata["Name"]}


def plugin_distributions() -> dict[str, str]:
    """The distributions that provide devstack plugins, with their versions."""
    found = {}
    for dist in distributions():
        if any(ep.group == ENTRY_POINT_GROUP for ep in dist.entry_points):
            found[dist.metadata["Name"]] = dist.version
    return dict(sorted(found.items(), key=lambda item: canonical(item[0])))


def requirements() -> list[str]:
    """devstack-core and every plugin distribution, pinned (``name==version``)."""
    pinned = {CORE_DISTRIBUTION: installed().get(CORE_DISTRIBUTION, "0")} | plugin_distributions()
    return [f"{name}=={version}" for name, version in pinned.items()]


def installer() -> list[str]:
    """uv (beside this interpreter or on PATH) aimed at this interpreter, else pip."""
    for found in (str(Path(sys.executable).parent / "uv"), shutil.which("uv")):
        if found and Path(found).is_file():
            return [found, "pip"]
    if importlib.util.find_spec("pip") is None:
        raise InstallError(f"neither uv (on PATH) nor pip (in {sys.prefix}) is there to install with: add one of them")
    return [sys.executable, "-m", "pip"]


def run_installer(verb: str, arguments: Sequence[str]) -> None:
    command = installer()
    target = ["--python", sys.executable] if command[-1] == "pip" and command[0] != sys.executable else []
    confirm = ["-y"] if verb == "uninstall" and command[0] == sys.executable else []
    done = subprocess.run([*command, verb, *target, *confirm, *arguments], check=False)
    if done.returncode != 0:
        tool = "pip" if command[0] == sys.executable else "uv pip"
        raise InstallError(f"{tool} {verb} failed (exit {done.returncode}); its own message is above")


def describe() -> dict[str, Any]:
    """What the application built with every installed plugin serves, per plugin (this
    runs in a fresh process: ``python -m devstack.installer``)."""
    from devstack.foundation.settings import CoreSettings
    from devstack.plugin_system.records import PluginError
    from devstack.runtime.app import create_app, state_of

    shared = shared_names()
    if shared:
        return {"error": shared}
    try:
        app = create_app(CoreSettings(strict_plugins=False, log_level="CRITICAL", plugins=[], disable_plugins=[]))
    except PluginError as exc:
        return {"error": str(exc)}
    state = state_of(app)
    plugins = []
    for _, record in sorted(state.registry.records.items()):
        described = record.as_dict()
        described["operations"] = [operation_line(state.contract, route) for route in sorted(record.routes)]
        plugins.append(described)
    return {"plugins": plugins}


def shared_names() -> str | None:
    """Plugin names that more than one distribution provides (core would load only one)."""
    providers: dict[str, list[str]] = {}
    for dist in distributions():
        for point in dist.entry_points:
            if point.group == ENTRY_POINT_GROUP:
                providers.setdefault(point.name, []).append(dist.metadata["Name"])
    shared = [f"{name!r} ({', '.join(sorted(found))})" for name, found in sorted(providers.items()) if len(found) > 1]
    return f"plugin name {', '.join(shared)} is provided by more than one distribution" if shared else None


def operation_line(contract: dict[str, Any], route: str) -> str:
    """``GET /weather/{city}  weather_get``: a route and the operation documenting it."""
    method, path = route.split(" ", 1)
    operation = contract.get("paths", {}).get(path, {}).get(method.lower(), {})
    return f"{route:<50} {operation.get('operationId', '(no operation in the contract)')}"


def describe_fresh() -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k not in ("DEVSTACK_PLUGINS", "DEVSTACK_DISABLE_PLUGINS")}
    done = subprocess.run(
        [sys.executable, "-m", "devstack.installer"],
        capture_output=True,
        text=True,
        timeout=DESCRIBE_TIMEOUT,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        return {"error": f"the application could not be built (exit {done.returncode})"}
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def roll_back(before: dict[str, str], after: dict[str, str]) -> None:
    added = sorted(set(after) - set(before))
    changed = sorted(name for name in before if name in after and after[name] != before[name])
    if added:
        run_installer("uninstall", added)
    if changed:
        run_installer("install", [f"{name}=={before[name]}" for name in changed])
    print(f"rolled back: removed {', '.join(added) or 'nothing'}; restored {', '.join(changed) or 'nothing'}")


def install(packages: Sequence[str]) -> int:
    """Install, show what the new plugins add, refuse (and roll back) a collision."""
    before = installed()
    run_installer("install", packages)
    after = installed()
    new = {name for name in after if before.get(name) != after[name]}
    found = describe_fresh()
    problems = [found["error"]] if "error" in found else []
    for plugin in found.get("plugins", []):
        if canonical(plugin["distribution"] or "") not in new:
            continue
        if plugin["status"] != "loaded":
            problems.append(f"plugin {plugin['name']} ({plugin['distribution']}): {plugin['error']}")
            continue
        print(f"plugin {plugin['name']} ({plugin['distribution']} {plugin['version']}) adds:")
        for operation in plugin["operations"]:
            print(f"  {operation}")
    if problems:
        for problem in problems:
            print(f"devstack install: refused: {problem}", file=sys.stderr)
        roll_back(before, after)
        return 1
    return 0


def uninstall(packages: Sequence[str]) -> int:
    names = [canonical(package) for package in packages]
    if CORE_DISTRIBUTION in names:
        raise InstallError(f"{CORE_DISTRIBUTION} runs this command: uninstall it with pip or uv, not with devstack")
    unknown = sorted(set(names) - set(installed()))
    if unknown:
        raise InstallError(
            f"not installed: {', '.join(unknown)} (installed plugins: {', '.join(plugin_distributions())})"
        )
    plugins = {canonical(name) for name in plugin_distributions()}
    run_installer("uninstall", names)
    for name in names:
        print(f"removed {name}" + (" (a devstack plugin)" if name in plugins else ""))
    return 0


def add_commands(sub: Any) -> None:
    """``devstack install`` and ``devstack uninstall`` (``sub``: the CLI's subparsers)."""
    command = sub.add_parser(
        "install", help="install plugin distributions here (uv or pip), show what they add, refuse a collision"
    )
    command.add_argument("packages", nargs="+", metavar="PKG", help="what pip or uv accept: a name, a path, a wheel")
    command.set_defaults(func=lambda args: install(args.packages))
    command = sub.add_parser("uninstall", help="uninstall plugin distributions from here")
    command.add_argument("packages", nargs="+", metavar="PKG", help="distribution names")
    command.set_defaults(func=lambda args: uninstall(args.packages))


if __name__ == "__main__":  # the fresh process of describe_fresh
    print(json.dumps(describe()))
