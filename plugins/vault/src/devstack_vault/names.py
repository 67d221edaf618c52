"""Checks on every name that becomes part of a Vault URL."""

from __future__ import annotations

import re

SAFE_NAME = re.compile(r"[A-Za-z0-9_-]{1,100}")


def safe_name(value: str, max_length: int = 50) -> str:
    """``value`` when it is 1..max_length characters of ``[A-Za-z0-9_-]`` (no ``/``, no ``..``).

    Raises ValueError otherwise: nothing else ever reaches a Vault path.
    """
    if len(value) > max_length or SAFE_NAME.fullmatch(value) is None:
        raise ValueError(f"name must be 1-{max_length} characters of letters, digits, '_' and '-'")
    return value
