"""The conformance suite: one test per rule (see ``devstack.conformance.rules.RULES``),
run against the plugin named by ``--devstack-conformance=NAME``."""

from __future__ import annotations

import pytest

from devstack.conformance import static
from devstack.conformance.app_state import Built, built_app
from devstack.conformance.rules import require, rule
from devstack.conformance.session import plugin_name
from devstack.conformance.subject import Subject


@pytest.fixture(scope="session")
def subject(request: pytest.FixtureRequest) -> Subject:
    return Subject.load(plugin_name(request.config))


@pytest.fixture(scope="session")
def built(subject: Subject) -> Built:
    return built_app(subject)


@rule("plugin-loads", "it is installed under its name, imports, registers and starts without a failure")
def test_plugin_loads(subject: Subject, built: Built) -> None:
    assert subject.load_error is None, subject.load_error
    assert built.build_error is None, built.build_error
    assert built.status == "loaded", f"the plugin is {built.status}: {built.error}"


@rule("contract-valid", "its fragment is valid OpenAPI 3.1 alone and merged, with no dangling $ref")
def test_contract_valid(subject: Subject, built: Built) -> None:
    require("contract-valid", static.fragment_findings(subject.fragment(), built.contract or None))


@rule("contract-merges", "no path, operation id, tag or schema collides with core's or another plugin's")
def test_contract_merges(subject: Subject) -> None:
    require("contract-merges", static.collision_findings(subject.fragment(), subject.other_fragments()))


@rule("routes-documented", "every route it registers has an operation, every operation a route")
def test_routes_documented(subject: Subject, built: Built) -> None:
    assert built.status == "loaded", f"the plugin is {built.status}: {built.error}"
    require("routes-documented", static.gap_findings(built.gaps, built.owned))


@rule("settings-documented", "every setting has an env var and a description; secret-like ones are SecretStr")
def test_settings_documented(subject: Subject) -> None:
    require("settings-documented", static.settings_findings(subject.settings_model()))
