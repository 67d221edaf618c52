"""Why a plugin failed, in words a plugin author can act on and an operator may read.

A reason names the phase and what failed where: the file and line of the plugin's own
code that raised, the contract file and line that does not parse, the hook signature
pluggy refused. It never carries an exception's own text when that text could hold
data (a driver's message may quote a connection string): only texts that devstack or
pluggy wrote from code and files (``ContractError``, a YAML syntax error's position,
``PluginValidationError``) are quoted.
"""

from __future__ import annotations

import difflib
import inspect
import re
import traceback
from collections.abc import Iterable
from pathlib import PurePath

import pluggy
import yaml

MAX_REASON = 400


class ContractError(Exception):
    """Two fragments disagree, or a fragment is unreadable (message written by core)."""


class PluginTimeout(Exception):
    """A lifecycle hook did not finish within the lifecycle timeout."""

    def __init__(self, phase: str, seconds: float) -> None:
        super().__init__(f"{phase} did not finish within {seconds:g} s")
        self.seconds = seconds


def short_path(filename: str, line: int, package: str | None) -> str:
    """``pkg/module.py:12``: a file as a person finds it in their own source tree."""
    parts = PurePath(filename).parts
    if package and package in parts:
        last = len(parts) - 1 - parts[::-1].index(package)
        return "/".join(parts[last:]) + f":{line}"
    return f"{'/'.join(parts[-2:])}:{line}"


def hook_location(plugin: object, hook: str, package: str | None) -> str | None:
    """Where a plugin defines its implementation of ``hook`` (None when it cannot be told)."""
    function = inspect.unwrap(getattr(plugin, hook, None) or (lambda: None))
    try:
        filename = inspect.getsourcefile(function)
        line = inspect.getsourcelines(function)[1]
    except (OSError, TypeError):
        return None
    return short_path(filename, line, package) if filename and hook in getattr(function, "__name__", "") else None


def field_location(model: type, field: str, package: str | None) -> str | None:
    """Where a settings model defines ``field`` (``pkg/settings.py:14``), None when unknown."""
    try:
        filename = inspect.getsourcefile(model)
        lines, first = inspect.getsourcelines(model)
    except (OSError, TypeError):
        return None
    pattern = re.compile(rf"^\s+{re.escape(field)}\s*[:=]")
    for offset, text in enumerate(lines):
        if pattern.match(text):
            return short_path(filename, first + offset, package) if filename else None
    return None


def registration_reason(exc: BaseException, plugin: object, package: str | None) -> str | None:
    """pluggy's refusal of a hook implementation with the file and line of that
    implementation (None for any other failure)."""
    if not isinstance(exc, pluggy.PluginValidationError):
        return None
    found = re.search(r"for hook '(\w+)'", str(exc))
    location = hook_location(plugin, found.group(1), package) if found else None
    reason = one_line(str(exc))
    return f"{reason} (at {location})" if location else reason


def unknown_hooks_reason(unknown: Iterable[str], known: Iterable[str], plugin: object, package: str | None) -> str:
    """``unknown hooks ['devstack_rutes'] (at pkg/plugin.py:12; did you mean devstack_routes?)``."""
    names = sorted(unknown)
    notes = [f"at {where}" for where in (hook_location(plugin, name, package) for name in names) if where]
    for name in names:
        close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.85)
        if close:
            notes.append(f"{name}: did you mean {close[0]}?")
    return f"unknown hooks {names}" + (f" ({'; '.join(notes)})" if notes else "")


def where(exc: BaseException, package: str | None) -> str | None:
    """``pkg/module.py:12``: the innermost frame of the traceback that runs code of the
    plugin's own ``package`` (None when none does: a reason without a location beats one
    pointing into a library)."""
    if not package:
        return None
    found: tuple[str, int] | None = None
    for frame, line in traceback.walk_tb(exc.__traceback__):
        module = str(frame.f_globals.get("__name__", ""))
        if module == package or module.startswith(package + "."):
            found = (frame.f_code.co_filename, line)
    if found is None:
        return None
    return short_path(found[0], found[1], package)


def yaml_position(exc: yaml.YAMLError) -> str:
    """A YAML error as ``line L, column C: problem`` (its own words, not the file's text)."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or type(exc).__name__
    if mark is None:
        return str(problem)
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"


def one_line(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= MAX_REASON else flat[: MAX_REASON - 3] + "..."


def describe_failure(phase: str, exc: BaseException, package: str | None = None) -> str:
    """A short, safe reason: the phase, what failed and where (see the module docstring)."""
    head = f"{phase} failed"
    if isinstance(exc, (PluginTimeout, ContractError)):
        return f"{head}: {one_line(str(exc))}"
    if isinstance(exc, pluggy.PluginValidationError):
        return f"{head}: {one_line(str(exc))}"
    if isinstance(exc, yaml.YAMLError):
        return f"{head}: {one_line(yaml_position(exc))}"
    reason = f"{head}: {type(exc).__name__}"
    missing = getattr(exc, "name", None)
    if isinstance(exc, ModuleNotFoundError) and missing:
        return f"{reason} (no module named {missing!r})"
    location = where(exc, package)
    return f"{reason} at {location}" if location else reason
