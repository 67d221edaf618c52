"""``devstack install`` / ``uninstall`` / ``plugins --requirements`` in a throwaway venv
(devstack-core from this checkout; uv from the test environment's PATH): the fixture
plugins are distributions written by ``devstack new-plugin``, one of them edited to
collide with the other."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from venv_support import make_venv, run

from devstack.scaffold import new_plugin

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bin_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield make_venv(tmp_path_factory.mktemp("install") / "venv")


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """devstack-greeter; devstack-clash: its route is the greeter's own; devstack-twin: its
    plugin's name is the greeter's."""
    root = tmp_path_factory.mktemp("fixtures")
    new_plugin("greeter", root)
    clash = new_plugin("clash", root)
    for relative in ("src/devstack_clash/routes.py", "src/devstack_clash/contract.yaml"):
        path = clash / relative
        path.write_text(path.read_text().replace("/clash/greetings", "/greeter/greetings"))
    # devstack-twin: another distribution whose plugin is also named greeter
    twin = new_plugin("twin", root)
    pyproject = twin / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace('twin = "devstack_twin.plugin"', 'greeter = "devstack_twin.plugin"')
    )
    return root


def devstack(bin_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run([str(bin_dir / "devstack"), *args], cwd=bin_dir, timeout=600)


def requirements(bin_dir: Path) -> list[str]:
    listed = devstack(bin_dir, "plugins", "--requirements")
    assert listed.returncode == 0, listed.stderr
    return listed.stdout.split()


def test_install_shows_what_a_plugin_adds_and_refuses_a_collision(bin_dir: Path, fixtures: Path) -> None:
    assert requirements(bin_dir) == ["devstack-core==0.1.0"]

    installed = devstack(bin_dir, "install", str(fixtures / "devstack-greeter"))
    assert installed.returncode == 0, installed.stdout + installed.stderr
    lines = [line.split() for line in installed.stdout.splitlines()]
    assert ["plugin", "greeter", "(devstack-greeter", "0.1.0)", "adds:"] in lines
    assert ["GET", "/greeter/greetings/{who}", "greeter_greet"] in lines
    assert ["GET", "/health/greeter", "health_greeter"] in lines
    assert requirements(bin_dir) == ["devstack-core==0.1.0", "devstack-greeter==0.1.0"]

    refused = devstack(bin_dir, "install", str(fixtures / "devstack-clash"))
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "devstack install: refused: GET /greeter/greetings/{who} is defined by both clash and greeter" in (
        refused.stderr
    )
    assert "rolled back: removed devstack-clash; restored nothing" in refused.stdout
    assert requirements(bin_dir) == ["devstack-core==0.1.0", "devstack-greeter==0.1.0"]

    twin = devstack(bin_dir, "install", str(fixtures / "devstack-twin"))
    assert twin.returncode == 1, twin.stdout + twin.stderr
    assert (
        "devstack install: refused: plugin name 'greeter' (devstack-greeter, devstack-twin) "
        "is provided by more than one distribution"
    ) in twin.stderr
    assert requirements(bin_dir) == ["devstack-core==0.1.0", "devstack-greeter==0.1.0"]

    removed = devstack(bin_dir, "uninstall", "devstack-greeter")
    assert removed.returncode == 0, removed.stderr
    assert "removed devstack-greeter (a devstack plugin)" in removed.stdout
    assert requirements(bin_dir) == ["devstack-core==0.1.0"]


def test_uninstall_refuses_core_and_what_is_not_installed(bin_dir: Path) -> None:
    core = devstack(bin_dir, "uninstall", "devstack-core")
    assert core.returncode == 2
    assert "devstack-core runs this command" in core.stderr
    missing = devstack(bin_dir, "uninstall", "devstack-nothing")
    assert missing.returncode == 2
    assert "not installed: devstack-nothing" in missing.stderr
