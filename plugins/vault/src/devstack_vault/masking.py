"""Masking of sensitive values in answers.

A key is sensitive when its name contains ``password`` or ``token`` (any case); its value
is replaced by ``***``. The reference masked only ``password`` keys in whole-secret
answers; devstack masks both words in every answer that carries secret values.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

MASK = "***"
SENSITIVE_WORDS = ("password", "token")


def is_sensitive(key: str) -> bool:
    lowered = key.lower()
    return any(word in lowered for word in SENSITIVE_WORDS)


def as_text(value: Any) -> str:
    """A secret value as text (KV v2 may hold any JSON value; devstack writes strings)."""
    return value if isinstance(value, str) else json.dumps(value)


def mask_value(key: str, value: Any) -> Any:
    return MASK if is_sensitive(key) else value


def masked(data: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``data`` with every sensitive value replaced by ``***``."""
    return {key: mask_value(key, value) for key, value in data.items()}
