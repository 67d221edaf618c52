"""Settings as ``devstack settings`` shows them: one row per field, masked by devstack's
policy, and the Markdown table the README holds (``devstack settings --markdown``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import SecretBytes, SecretStr
from pydantic_settings import BaseSettings

from devstack.foundation.masking import MASK, masked
from devstack.foundation.settings_errors import secret_field


def shown_setting(value: Any, secret: bool) -> Any:
    """A setting's value as ``devstack settings`` shows it, masked by devstack's policy:
    a secret field (SecretStr, sensitive name) as ``***``, URL passwords inside others."""
    if isinstance(value, (SecretStr, SecretBytes)):
        return MASK if value.get_secret_value() else ""
    if value is None or (isinstance(value, (str, list, tuple, dict)) and not value):
        return "" if secret and value is None else value  # nothing set: nothing to hide
    if secret:
        return MASK
    return masked(str(value) if isinstance(value, Path) else value)


def describe_settings(owner: str, model: type[BaseSettings], instance: BaseSettings) -> list[dict[str, Any]]:
    prefix = str(model.model_config.get("env_prefix", ""))
    rows = []
    for name, field in model.model_fields.items():
        secret = secret_field(name, field)
        rows.append(
            {
                "owner": owner,
                "env": f"{prefix}{name}".upper(),
                "value": shown_setting(getattr(instance, name), secret),
                "default": shown_setting(field.get_default(call_default_factory=True), secret),
                "description": field.description or "",
            }
        )
    return rows


def settings_markdown(rows: list[dict[str, Any]]) -> str:
    """The settings as a Markdown table (defaults, as the README shows them)."""
    lines = ["| owner | environment variable | default | meaning |", "|---|---|---|---|"]
    for row in rows:
        value = row["default"]
        # a list as it is written in the environment: comma-separated
        shown = json.dumps(",".join(map(str, value))) if isinstance(value, list) else json.dumps(value, default=str)
        meaning = row["description"] + (" (comma-separated)" if isinstance(value, list) else "")
        lines.append(f"| {row['owner']} | `{row['env']}` | `{shown}` | {meaning} |")
    return "\n".join(lines)
