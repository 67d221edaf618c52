"""A fragment's shape, checked before it is merged, and where in its file a problem is.

A fragment that is not shaped like OpenAPI's ``paths``/``components``/``tags`` would
otherwise fail deep in the merge with only an exception's type; here the reason names
the file, the line and the entry (``devstack_x/contract.yaml: paths./x.get (line 4):
an operation is a mapping with responses``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from devstack.plugin_system.failures import ContractError

HTTP_METHODS = ("get", "put", "post", "delete", "patch", "options", "head")
PATH_ITEM_FIELDS = frozenset({"summary", "description", "parameters", "servers", "$ref"})

Parts = tuple[str | int, ...]


def dotted(parts: Parts) -> str:
    """``paths./x.get.responses.200`` (list items as ``[0]``)."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(root)"


def line_of(source: Any, parts: Parts) -> int | None:
    """The line of the file ``source`` where the entry at ``parts`` starts (None for a
    mapping source or a file that cannot be read again)."""
    if isinstance(source, Mapping):
        return None
    try:
        node = yaml.compose(source.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except (OSError, UnicodeDecodeError, AttributeError, yaml.YAMLError):
        return None
    for part in parts:
        if isinstance(node, yaml.MappingNode):
            node = next((value for key, value in node.value if key.value == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            node = None
        if node is None:
            return None
    return node.start_mark.line + 1 if node is not None else None


def located(parts: Parts, source: Any) -> str:
    """``paths./x.get (line 4)``: an entry and, for a file, its line."""
    line = line_of(source, parts)
    return dotted(parts) + (f" (line {line})" if line else "")


def shape_problems(fragment: Mapping[str, Any]) -> list[tuple[Parts, str]]:
    """Every entry of a fragment that is not where OpenAPI puts it, with what is wrong."""
    problems: list[tuple[Parts, str]] = []
    paths = fragment.get("paths") or {}
    if not isinstance(paths, Mapping):
        return [(("paths",), "paths is a mapping of path -> operations")]
    for path, item in paths.items():
        if not isinstance(path, str) or not path.startswith("/"):
            problems.append((("paths", str(path)), "a path starts with /"))
        elif not isinstance(item, Mapping):
            problems.append((("paths", path), "a path item is a mapping of method -> operation"))
        else:
            for method, operation in item.items():
                if method in PATH_ITEM_FIELDS:
                    continue
                where = ("paths", path, str(method))
                if method not in HTTP_METHODS:
                    problems.append((where, f"{method!r} is no HTTP method (one of {', '.join(HTTP_METHODS)})"))
                elif not isinstance(operation, Mapping) or not isinstance(operation.get("responses"), Mapping):
                    problems.append((where, "an operation is a mapping with responses"))
    components = fragment.get("components") or {}
    if not isinstance(components, Mapping) or not all(isinstance(v, Mapping) for v in components.values()):
        problems.append((("components",), "components is a mapping of section -> name -> definition"))
    tags = fragment.get("tags") or []
    if not isinstance(tags, list):
        problems.append((("tags",), "tags is a list of {name, description}"))
    else:
        for index, tag in enumerate(tags):
            if not isinstance(tag, Mapping) or not isinstance(tag.get("name"), str):
                problems.append((("tags", index), "a tag is a mapping with a name"))
    return problems


def check_shape(name: str, fragment: Mapping[str, Any], source: Any) -> None:
    """Raise ContractError naming the file, the line and the entry of the first problems."""
    problems = shape_problems(fragment)
    if problems:
        shown = "; ".join(f"{located(parts, source)}: {what}" for parts, what in problems[:3])
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise ContractError(f"{name}: {shown}{more}")
