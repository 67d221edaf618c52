"""The import contracts of the workspace pyproject (``lint-imports``) hold on the tree and
break on a deliberate violation: a plugin importing a core module other than
``devstack.api``, and core importing a plugin."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SOURCES = [REPO / "core" / "src", *sorted((REPO / "plugins").glob("*/src"))]


def lint_imports(*ahead: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` on the workspace's contracts, with ``ahead`` first on the path
    (a patched copy of a package there shadows the tree's)."""
    executable = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or "lint-imports"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(p) for p in [*ahead, *SOURCES])}
    return subprocess.run(
        [executable, "--config", str(REPO / "pyproject.toml"), "--no-cache"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def patched_copy(tmp_path: Path, package: Path, module: str, line: str) -> Path:
    """A copy of ``package`` under ``tmp_path`` whose ``module`` ends with ``line``."""
    target = tmp_path / package.name
    shutil.copytree(package, target)
    with (target / module).open("a", encoding="utf-8") as handle:
        handle.write(f"\n{line}  # noqa\n")
    return tmp_path


def test_the_tree_keeps_every_import_contract() -> None:
    result = lint_imports()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_plugin_importing_a_core_module_breaks_the_contract(tmp_path: Path) -> None:
    package = REPO / "plugins" / "vault" / "src" / "devstack_vault"
    ahead = patched_copy(tmp_path, package, "names.py", "from devstack.foundation.settings import CoreSettings")
    result = lint_imports(ahead)
    assert result.returncode != 0
    assert "Plugins import only the public plugin API" in result.stdout
    assert "devstack_vault.names -> devstack.foundation.settings" in result.stdout


def test_core_importing_a_plugin_breaks_the_contract(tmp_path: Path) -> None:
    package = REPO / "core" / "src" / "devstack"
    ahead = patched_copy(tmp_path, package, "foundation/masking.py", "import devstack_redis")
    result = lint_imports(ahead)
    assert result.returncode != 0
    assert "Core imports no plugin" in result.stdout
    assert "devstack.foundation.masking -> devstack_redis" in result.stdout
