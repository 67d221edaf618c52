"""Shared test setup for core: makes the helper modules of this folder importable
(``--import-mode=importlib`` does not put test folders on sys.path)."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = str(Path(__file__).parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)
