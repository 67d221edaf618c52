"""docs/writing-plugins.md's complete example, taken from the page exactly as written
(every fenced block whose info string says ``file=PATH``): it is what ``devstack
new-plugin weather`` writes, it builds, installs beside devstack-core into a fresh venv,
and passes its own tests and the conformance suite."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from venv_support import REPO, make_venv, run

from devstack.scaffold import PluginNames, render

pytestmark = pytest.mark.slow

PAGE = REPO / "docs" / "writing-plugins.md"
BLOCK = re.compile(r"^```\w+ file=(?P<path>\S+)\n(?P<text>.*?)^```$", re.M | re.S)
# what the page says to put beside the files it shows
BESIDE = {"README.md": "# devstack-weather\n", "LICENSE": "MIT License\n", "src/devstack_weather/py.typed": ""}


def example_files() -> dict[str, str]:
    return {match["path"]: match["text"] for match in BLOCK.finditer(PAGE.read_text(encoding="utf-8"))}


def test_the_example_is_what_the_scaffold_writes() -> None:
    shown = example_files()
    assert sorted(shown) == [
        "pyproject.toml",
        "src/devstack_weather/__init__.py",
        "src/devstack_weather/contract.yaml",
        "src/devstack_weather/plugin.py",
        "src/devstack_weather/routes.py",
        "src/devstack_weather/settings.py",
        "tests/conftest.py",
        "tests/test_weather.py",
    ]
    written = render(PluginNames.of("weather"))
    assert {path: written[path] for path in shown} == shown, "docs/writing-plugins.md: show what new-plugin writes"


def test_the_example_builds_installs_and_passes_its_tests_and_the_conformance_suite(tmp_path: Path) -> None:
    root = tmp_path / "devstack-weather"
    for relative, text in {**example_files(), **BESIDE}.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    bin_dir = make_venv(tmp_path / "venv", f"{root}[test]")  # from its wheel: contract.yaml must be in it
    pytest_command = [str(bin_dir / "pytest"), "-q", "-p", "no:cacheprovider"]
    tests = run(pytest_command, cwd=root, DEVSTACK_STRICT_PLUGINS="1")
    assert tests.returncode == 0, tests.stdout[-4000:] + tests.stderr[-2000:]
    suite = run([*pytest_command, "--devstack-conformance=weather"], cwd=root, timeout=600)
    assert suite.returncode == 0, suite.stdout[-6000:] + suite.stderr[-2000:]
    assert "failed" not in suite.stdout and " passed" in suite.stdout
