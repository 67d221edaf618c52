"""The OpenAPI contract: core's fragment merged with every plugin's.

Each fragment is an OpenAPI 3.1 document holding ``paths`` and optionally ``tags`` and
``components``. Merging is a union; the same path+method, tag or component defined twice
with different content is a conflict naming both sources.
"""

from __future__ import annotations

import copy
import difflib
import json
import re
from collections.abc import Mapping
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

from devstack.contract.shape import HTTP_METHODS, Parts, check_shape, dotted, located
from devstack.plugin_system.failures import ContractError, yaml_position

__all__ = [
    "HTTP_METHODS",
    "ContractBuilder",
    "ContractError",
    "check_refs",
    "check_shape",
    "dangling_refs",
    "load_fragment",
]
QUART_PARAM = re.compile(r"<(?:[a-zA-Z_][a-zA-Z0-9_]*:)?([a-zA-Z_][a-zA-Z0-9_]*)>")


def quart_rule_to_openapi(rule: str) -> str:
    """``/examples/cache/<key>`` → ``/examples/cache/{key}``."""
    return QUART_PARAM.sub(r"{\1}", rule)


def source_name(source: Any) -> str:
    """A contract file's name as a person finds it: ``devstack_hello/contract.yaml``."""
    parts = Path(str(source)).parts
    return "/".join(parts[-2:]) if parts else str(source)


def load_fragment(source: Any) -> dict[str, Any]:
    """A fragment from a mapping, a path or a package resource (YAML or JSON).

    Every failure is a ContractError naming the file (and the line, for a syntax
    error), including a file that is missing: a wheel built without its package data.
    """
    if isinstance(source, Mapping):
        return copy.deepcopy(dict(source))
    name = source_name(source)
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ContractError(f"{name}: no such file (is it package data of the distribution?)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ContractError(f"{name}: cannot be read ({type(exc).__name__})") from None
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ContractError(f"{name}: {yaml_position(exc)}") from None
    if not isinstance(loaded, dict):
        raise ContractError(f"{name}: a contract fragment is a mapping (paths, components, tags)")
    return loaded


def dangling(node: Any, document: Mapping[str, Any], at: Parts = ()) -> list[tuple[Parts, str]]:
    """Every local ``$ref`` below ``node`` that names nothing in ``document``, with where
    it stands."""
    found: list[tuple[Parts, str]] = []
    if isinstance(node, Mapping):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/") and not resolves(ref, document):
            found.append((at, ref))
        for key, value in node.items():
            found += dangling(value, document, (*at, str(key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += dangling(value, document, (*at, index))
    return found


def dangling_refs(node: Any, document: Mapping[str, Any]) -> list[str]:
    """The dangling ``$ref`` below ``node`` as text (``paths./x.get.responses.200: #/components/schemas/Nope``)."""
    return [f"{dotted(parts)}: {ref}" for parts, ref in dangling(node, document)]


def check_refs(source: str, fragment: Mapping[str, Any], core: Mapping[str, Any], origin: Any = None) -> None:
    """Raise ContractError when a ``$ref`` of the fragment names nothing in core's
    components or its own (the served document would then be invalid); ``origin`` is
    the file, whose lines the reason then names."""
    components: dict[str, dict[str, Any]] = {k: dict(v) for k, v in (core.get("components") or {}).items()}
    for section, entries in (fragment.get("components") or {}).items():
        components.setdefault(section, {}).update(entries or {})
    found = dangling(fragment, {"components": components})
    if found:
        shown = "; ".join(f"{located(parts, origin or {})}: {ref}" for parts, ref in found[:3])
        more = f" (and {len(found) - 3} more)" if len(found) > 3 else ""
        raise ContractError(f"{source}: $ref names nothing: {shown}{more}")


def resolves(ref: str, document: Mapping[str, Any]) -> bool:
    target: Any = document
    for part in ref[2:].split("/"):
        key = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(target, Mapping) or key not in target:
            return False
        target = target[key]
    return True


def core_fragment() -> dict[str, Any]:
    return load_fragment(files("devstack").joinpath("contract/core.yaml"))


class ContractBuilder:
    """Accumulates fragments; remembers which source defined what."""

    def __init__(self, base: Mapping[str, Any]) -> None:
        self.document: dict[str, Any] = copy.deepcopy(dict(base))
        self.document.setdefault("paths", {})
        self.document.setdefault("components", {})
        self._owners: dict[str, str] = {}
        for path, item in self.document["paths"].items():
            for method in item:
                self._owners[f"{method.upper()} {path}"] = "core"
        for section, entries in self.document["components"].items():
            for name in entries:
                self._owners[f"components/{section}/{name}"] = "core"
        for tag in self.document.get("tags", []):
            self._owners[f"tag {tag['name']}"] = "core"

    def add(self, source: str, fragment: Mapping[str, Any]) -> None:
        """Merge one plugin's fragment; raise ContractError on a conflict."""
        for path, item in (fragment.get("paths") or {}).items():
            target = self.document["paths"].setdefault(path, {})
            for method, operation in item.items():
                self._put(target, method, operation, f"{method.upper()} {path}", source)
        for section, entries in (fragment.get("components") or {}).items():
            target = self.document["components"].setdefault(section, {})
            for name, value in entries.items():
                self._put(target, name, value, f"components/{section}/{name}", source)
        tags = self.document.setdefault("tags", [])
        for tag in fragment.get("tags") or []:
            key = f"tag {tag['name']}"
            existing = next((t for t in tags if t["name"] == tag["name"]), None)
            if existing is None:
                tags.append(copy.deepcopy(tag))
                self._owners[key] = source
            elif existing != tag:
                raise ContractError(f"{key} is defined differently by {self._owners[key]} and {source}")

    def _put(self, target: dict[str, Any], name: str, value: Any, key: str, source: str) -> None:
        if name in target and target[name] != value:
            raise ContractError(f"{key} is defined by both {self._owners.get(key, '?')} and {source}")
        target[name] = copy.deepcopy(value)
        self._owners.setdefault(key, source)

    def owner(self, method: str, path: str) -> str | None:
        return self._owners.get(f"{method.upper()} {path}")

    def build(self) -> dict[str, Any]:
        """The merged document with paths, tags and components in a stable order."""
        doc = self.document
        doc["paths"] = {path: doc["paths"][path] for path in sorted(doc["paths"])}
        doc["tags"] = sorted(doc.get("tags", []), key=lambda t: t["name"])
        doc["components"] = {
            section: {name: entries[name] for name in sorted(entries)}
            for section, entries in sorted(doc["components"].items())
        }
        return doc


def operations(document: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every ``(METHOD, path)`` of a document."""
    return sorted(
        (method.upper(), path)
        for path, item in (document.get("paths") or {}).items()
        for method in item
        if method in HTTP_METHODS
    )


def canonical(document: Mapping[str, Any]) -> dict[str, Any]:
    """A document as JSON would carry it (for equality checks)."""
    result: dict[str, Any] = json.loads(json.dumps(document, sort_keys=True, default=str))
    return result


def dump_yaml(document: Mapping[str, Any]) -> str:
    return yaml.safe_dump(canonical(document), sort_keys=False, allow_unicode=True, width=100)


def diff(expected: Mapping[str, Any], actual: Mapping[str, Any], expected_name: str, actual_name: str) -> str:
    """A unified diff of two documents' YAML, empty when they are equal."""
    if canonical(expected) == canonical(actual):
        return ""
    left = yaml.safe_dump(canonical(expected), sort_keys=True, width=100).splitlines(keepends=True)
    right = yaml.safe_dump(canonical(actual), sort_keys=True, width=100).splitlines(keepends=True)
    return "".join(difflib.unified_diff(left, right, expected_name, actual_name))


def read_spec_file(path: Path) -> dict[str, Any]:
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(loaded, dict):
        raise ContractError(f"{path} is not an OpenAPI document")
    return loaded
