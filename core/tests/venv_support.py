"""Throwaway virtual environments for the tests that install a distribution as a user
would (the scaffold's output, the docs' example, ``devstack install``): created with uv,
holding devstack-core from this checkout and nothing of the test's own environment."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CORE = REPO / "core"
INSTALL_TIMEOUT = 600


def uv() -> str:
    """uv: the one installed beside this interpreter (the core tox env's ``uv`` dependency)
    or on PATH."""
    for found in (str(Path(sys.executable).parent / "uv"), shutil.which("uv")):
        if found and Path(found).exists():
            return found
    raise AssertionError("uv not found: install it into the test environment (pip install uv)")


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without devstack's settings (a test's own leak in)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEVSTACK_") and k != "VIRTUAL_ENV"}
    env.update(extra)
    return env


def make_venv(root: Path, *requirements: str) -> Path:
    """A new venv at ``root`` with devstack-core (editable, this checkout) and
    ``requirements`` (uv pip install arguments); returns its ``bin`` directory."""
    subprocess.run([uv(), "venv", "--quiet", "--python", sys.executable, str(root)], check=True, env=clean_env())
    python = root / "bin" / "python"
    install = [uv(), "pip", "install", "--quiet", "--python", str(python), "-e", str(CORE), *requirements]
    subprocess.run(install, check=True, timeout=INSTALL_TIMEOUT, env=clean_env())
    return root / "bin"


def run(command: list[str], cwd: Path, timeout: float = 300, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=clean_env(**env), check=False
    )
