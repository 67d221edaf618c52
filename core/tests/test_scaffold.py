"""``devstack new-plugin NAME`` writes a distribution that builds, installs beside
devstack-core into a fresh venv and passes its own tests and the conformance suite as
written."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from venv_support import make_venv, run

from devstack.cli import main
from devstack.scaffold import LAYOUT, PluginNames, core_requirement, new_plugin, render

pytestmark = pytest.mark.slow


def test_the_generated_plugin_installs_and_its_tests_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    started = time.perf_counter()
    assert main(["new-plugin", "weather-api", "--output", str(tmp_path)]) == 0
    root = tmp_path / "devstack-weather-api"
    assert f"wrote {root}" in capsys.readouterr().out
    # the plugin is installed from its wheel (not editable): contract.yaml must be package data
    bin_dir = make_venv(tmp_path / "venv", f"{root}[test]")
    listed = run([str(bin_dir / "devstack"), "plugins", "--json"], cwd=tmp_path)
    assert '"status": "loaded"' in listed.stdout, listed.stdout + listed.stderr
    pytest = [str(bin_dir / "pytest"), "-q", "-p", "no:cacheprovider", "-rs"]
    tests = run(pytest, cwd=root, DEVSTACK_STRICT_PLUGINS="1")
    assert tests.returncode == 0, tests.stdout[-4000:] + tests.stderr[-2000:]
    assert " passed" in tests.stdout and "failed" not in tests.stdout
    # the second command of its tox env: devstack's conformance suite against the plugin
    suite = run([*pytest, "--devstack-conformance=weather-api"], cwd=root, timeout=600)
    assert suite.returncode == 0, suite.stdout[-6000:] + suite.stderr[-2000:]
    assert " 2 skipped" in suite.stdout and "failed" not in suite.stdout, suite.stdout[
        -2000:
    ]  # no backend to take down
    with capsys.disabled():
        print(f"\nscaffold to green: {time.perf_counter() - started:.1f} s")


def test_the_distribution_is_complete(tmp_path: Path) -> None:
    root = new_plugin("weather", tmp_path)
    written = sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())
    assert written == sorted(
        [
            ".gitignore",
            "LICENSE",
            "README.md",
            "pyproject.toml",
            "src/devstack_weather/__init__.py",
            "src/devstack_weather/contract.yaml",
            "src/devstack_weather/plugin.py",
            "src/devstack_weather/py.typed",
            "src/devstack_weather/routes.py",
            "src/devstack_weather/settings.py",
            "tests/conftest.py",
            "tests/test_weather.py",
            "tox.ini",
        ]
    )
    pyproject = (root / "pyproject.toml").read_text()
    assert "[build-system]" in pyproject
    assert 'weather = "devstack_weather.plugin"' in pyproject
    assert f'"{core_requirement("0.1.0")}"' in pyproject
    assert "%{" not in "".join(render(PluginNames.of("weather")).values())
    assert len(LAYOUT) == len(written)


def test_core_requirement_is_bounded_below_the_next_incompatible_release() -> None:
    assert core_requirement("0.1.0") == "devstack-core>=0.1.0,<0.2"
    assert core_requirement("1.4.2") == "devstack-core>=1.4,<2"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("Weather", "lowercase letters and digits"),
        ("9lives", "starting with a letter"),
        ("weather_api", "words joined by '-'"),
        ("health", "taken by core"),
    ],
)
def test_a_name_that_cannot_be_used_is_exit_2_saying_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, reason: str
) -> None:
    assert main(["new-plugin", name, "--output", str(tmp_path)]) == 2
    assert reason in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_nothing_is_overwritten(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "devstack-weather").mkdir()
    (tmp_path / "devstack-weather" / "notes.txt").write_text("mine")
    assert main(["new-plugin", "weather", "--output", str(tmp_path)]) == 2
    assert "exists and is not empty" in capsys.readouterr().err
    assert [p.name for p in (tmp_path / "devstack-weather").iterdir()] == ["notes.txt"]
