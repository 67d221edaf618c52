"""Every distribution (core and plugins/*) is complete as published: a LICENSE file in
the wheel, classifiers, project URLs, its own README, a build system; every plugin bounds
devstack-core to this core's major release and ships its contract as package data."""

from __future__ import annotations

import subprocess
import tomllib
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
from venv_support import REPO, clean_env, uv

from devstack import __version__
from devstack.scaffold import core_requirement

DISTRIBUTIONS = [REPO / "core", *sorted((REPO / "plugins").iterdir())]


def project_of(root: Path) -> dict[str, object]:
    with (root / "pyproject.toml").open("rb") as file:
        document = tomllib.load(file)
    assert document["build-system"]["build-backend"] == "hatchling.build"
    project: dict[str, object] = document["project"]
    return project


@pytest.mark.parametrize("root", DISTRIBUTIONS, ids=lambda path: path.name)
def test_the_project_metadata_is_complete(root: Path) -> None:
    project = project_of(root)
    assert (root / "LICENSE").is_file() and project["license-files"] == ["LICENSE"]
    assert (root / "README.md").is_file() and project["readme"] == "README.md"
    classifiers = project["classifiers"]
    assert isinstance(classifiers, list) and "Programming Language :: Python :: 3" in classifiers
    urls = project["urls"]
    assert isinstance(urls, dict) and {"Homepage", "Source", "Issues"} <= set(urls)
    if root.name != "core":
        requirements = [r for r in project["dependencies"] if str(r).startswith("devstack-core")]  # type: ignore[attr-defined]
        assert requirements == [core_requirement(__version__)], "bound devstack-core: >=this minor,<next major"


@pytest.mark.slow
def test_every_wheel_ships_its_license_and_package_data(tmp_path: Path) -> None:
    command = [uv(), "build", "--wheel", "--quiet", "--out-dir", str(tmp_path)]
    for root in DISTRIBUTIONS:
        subprocess.run([*command, str(root)], check=True, timeout=300, env=clean_env(), capture_output=True)
    for root in DISTRIBUTIONS:
        name = str(project_of(root)["name"]).replace("-", "_")
        [wheel] = tmp_path.glob(f"{name}-*.whl")
        with zipfile.ZipFile(wheel) as archive:
            names = archive.namelist()
            metadata = Parser().parsestr(
                archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
            )
        assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names), wheel.name
        assert metadata["License-Expression"] == "MIT"
        assert metadata.get_all("Project-URL"), wheel.name
        package = "devstack" if root.name == "core" else f"devstack_{root.name}"
        # "Typing :: Typed" is a promise the wheel keeps with its py.typed (PEP 561)
        typed = "Typing :: Typed" in (metadata.get_all("Classifier") or [])
        assert (f"{package}/py.typed" in names) == typed, wheel.name
        contract = "devstack/contract/core.yaml" if root.name == "core" else f"{package}/contract.yaml"
        assert contract in names, wheel.name
        if root.name == "core":
            assert "devstack/scaffold/template/pyproject.toml.tmpl" in names
