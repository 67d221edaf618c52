"""The rules a plugin meets before anything is served: its contract fragment, how it
merges with core's and every other installed plugin's, and its settings model."""

from __future__ import annotations

from collections.abc import Mapping
from types import UnionType
from typing import Any, Union, get_args, get_origin

from pydantic import SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

from devstack.contract import HTTP_METHODS, core_fragment, dangling_refs
from devstack.foundation.masking import sensitive_name
from devstack.plugin_system.compat import DECLARATION, PLUGIN_API_VERSION, incompatibility


def as_document(fragment: Mapping[str, Any], core: Mapping[str, Any]) -> dict[str, Any]:
    """A fragment as a whole OpenAPI document: core's header and components beside its own
    (a fragment may use core's components)."""
    components: dict[str, dict[str, Any]] = {k: dict(v) for k, v in (core.get("components") or {}).items()}
    for section, entries in (fragment.get("components") or {}).items():
        components.setdefault(section, {}).update(entries or {})
    return {
        "openapi": core.get("openapi", "3.1.0"),
        "info": core.get("info", {"title": "devstack", "version": "0"}),
        "paths": dict(fragment.get("paths") or {}),
        "components": components,
        "tags": list(fragment.get("tags") or []),
    }


def openapi_errors(document: Mapping[str, Any], what: str) -> list[str]:
    """What makes ``document`` invalid OpenAPI 3.1, each with where it is."""
    from openapi_spec_validator import OpenAPIV31SpecValidator

    found = [f"{what}: {at or '(root)'}: {ref} names nothing" for at, _, ref in split_refs(document)]
    if found:
        return found  # the validator cannot follow a reference that names nothing
    for error in OpenAPIV31SpecValidator(document).iter_errors():
        where = "/".join(str(part) for part in error.absolute_path) or "(root)"
        found.append(f"{what}: {where}: {error.message.splitlines()[0]}")
    return found


def split_refs(document: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    found = []
    for entry in dangling_refs(document, document):
        at, _, ref = entry.rpartition(": ")
        found.append((at, ":", ref))
    return found


def fragment_findings(fragment: Mapping[str, Any] | None, served: Mapping[str, Any] | None) -> list[str]:
    """The contract-valid rule: the fragment alone and the served, merged document."""
    if fragment is None:
        return ["the plugin has no devstack_contract hook: its operations are undocumented"]
    found = openapi_errors(as_document(fragment, core_fragment()), "the fragment alone")
    if served is not None:
        found += openapi_errors(served, "the merged /openapi.json")
    return found


def owned_items(fragment: Mapping[str, Any]) -> dict[str, Any]:
    """What a fragment defines, by collision key: operations, operation ids, tags, components."""
    items: dict[str, Any] = {}
    for path, item in (fragment.get("paths") or {}).items():
        for method, operation in (item or {}).items():
            if method not in HTTP_METHODS:
                continue
            items[f"operation {method.upper()} {path}"] = operation
            if isinstance(operation, Mapping) and operation.get("operationId"):
                items[f"operationId {operation['operationId']}"] = f"{method.upper()} {path}"
    for tag in fragment.get("tags") or []:
        items[f"tag {tag.get('name')}"] = tag
    for section, entries in (fragment.get("components") or {}).items():
        for name, value in (entries or {}).items():
            items[f"components/{section}/{name}"] = value
    return items


def collision_findings(fragment: Mapping[str, Any] | None, others: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The contract-merges rule: nothing the plugin defines is defined by core or another
    installed plugin (a tag or a component defined identically is shared, not a collision)."""
    if fragment is None:
        return []
    mine = owned_items(fragment)
    found = []
    for owner, other in {"core": core_fragment(), **others}.items():
        for key, value in owned_items(other).items():
            if key not in mine:
                continue
            shared = key.startswith(("tag ", "components/")) and mine[key] == value
            if not shared:
                found.append(f"{key} is also defined by {owner}")
    return found


def is_secret(annotation: Any) -> bool:
    if annotation is SecretStr:
        return True
    return any(is_secret(arg) for arg in getattr(annotation, "__args__", ()) or ())


def is_text(annotation: Any) -> bool:
    """A plain string setting (``str``, ``str | None``): what a credential would be typed
    as (a list of secret *names* is not one)."""
    if annotation is str:
        return True
    if get_origin(annotation) in (Union, UnionType):
        return any(is_text(arg) for arg in get_args(annotation))
    return False


def env_names(model: type[BaseSettings], name: str, info: FieldInfo) -> list[str]:
    prefix = str(model.model_config.get("env_prefix") or "")
    alias = info.validation_alias
    if isinstance(alias, str):
        return [alias.upper()]
    choices = getattr(alias, "choices", None)
    if choices:
        return [str(choice).upper() for choice in choices if isinstance(choice, str)]
    return [(prefix + name).upper()] if prefix else []


def settings_findings(model: type[BaseSettings] | None) -> list[str]:
    """The settings-documented rule: every field has an env var and a description, and a
    secret-like field is a SecretStr (masked in logs, reprs and /plugins)."""
    if model is None:
        return []
    found = []
    for name, info in model.model_fields.items():
        if not env_names(model, name, info):
            found.append(f"{model.__name__}.{name}: no environment variable (set an env_prefix)")
        if not (info.description or "").strip():
            found.append(f"{model.__name__}.{name}: no description")
        if sensitive_name(name) and is_text(info.annotation) and not is_secret(info.annotation):
            found.append(f"{model.__name__}.{name}: a secret-like setting that is not a SecretStr")
    return found


def gap_findings(gaps: list[str], owned: set[str]) -> list[str]:
    """The routes-documented rule: core's report of routes without an operation and
    operations without a route, for what this plugin serves or documents."""
    return [
        gap
        for gap in gaps
        if any(
            gap.endswith(f" {key} has no operation in the contract") or gap == f"operation {key} has no route"
            for key in owned
        )
    ]


def api_version_findings(plugin: object, requires: list[str] | None) -> list[str]:
    """The api-version rule: the plugin declares the plugin API it was built for, this
    core can run it, and its distribution bounds devstack-core from above."""
    from packaging.requirements import InvalidRequirement, Requirement

    found = []
    if not hasattr(plugin, DECLARATION):
        found.append(f"the plugin module declares no {DECLARATION} (e.g. {DECLARATION} = {PLUGIN_API_VERSION!r})")
    reason = incompatibility(plugin)
    if reason:
        found.append(reason)
    if requires is None:
        return [*found, "no distribution metadata: its devstack-core requirement cannot be read"]
    bounds = []
    for text in requires:
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue
        if requirement.name.lower().replace("_", "-") == "devstack-core":
            bounds += [spec.operator for spec in requirement.specifier]
    if not any(operator in ("<", "<=", "==", "~=", "===") for operator in bounds):
        found.append("its distribution does not bound devstack-core from above (e.g. devstack-core>=0.1.0,<0.2)")
    return found
