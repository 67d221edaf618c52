"""The import contracts of the workspace pyproject (``lint-imports``) hold on the tree and
break on a deliberate violation: a plugin importing a core module other than
``devstack.api``, core importing a plugin, a lower layer of core importing a higher one,
and an import cycle inside a layer."""

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


def test_a_lower_layer_importing_a_higher_one_breaks_the_layers(tmp_path: Path) -> None:
    package = REPO / "core" / "src" / "devstack"
    ahead = patched_copy(tmp_path, package, "foundation/errors.py", "import devstack.runtime.app")
    result = lint_imports(ahead)
    assert result.returncode != 0
    assert "Core is layered" in result.stdout
    assert "devstack.foundation.errors -> devstack.runtime.app" in result.stdout


def test_an_import_cycle_inside_a_layer_breaks_the_contract(tmp_path: Path) -> None:
    # devstack.runtime.routes imports devstack.runtime.state, which imports health
    package = REPO / "core" / "src" / "devstack"
    ahead = patched_copy(tmp_path, package, "runtime/health.py", "import devstack.runtime.routes")
    result = lint_imports(ahead)
    assert result.returncode != 0
    assert "No import cycle between core's subpackages BROKEN" in result.stdout
    # within one layer a cycle breaks no layer: only the acyclic contract sees it
    assert "kit > foundation) KEPT" in result.stdout
    assert "No cycles are allowed in devstack.runtime." in result.stdout
