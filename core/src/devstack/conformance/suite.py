"""The conformance suite: one test per rule (see ``devstack.conformance.rules.RULES``),
run against the plugin named by ``--devstack-conformance=NAME``."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from devstack.conformance import live, outage, property_rules, static
from devstack.conformance.app_state import Built, built_app
from devstack.conformance.exchanges import Exchange, exchanges, operations_of, schema_of
from devstack.conformance.rules import require, rule
from devstack.conformance.session import plugin_name
from devstack.conformance.subject import Subject
from devstack.testing import ServerProcess, free_port


@pytest.fixture(scope="session")
def subject(request: pytest.FixtureRequest) -> Subject:
    return Subject.load(plugin_name(request.config))


@pytest.fixture(scope="session")
def built(subject: Subject) -> Built:
    return built_app(subject)


@pytest.fixture(scope="session")
def server(subject: Subject) -> Iterator[ServerProcess]:
    """``devstack serve`` with the plugin and its backend (the environment's settings)."""
    with ServerProcess(env=subject.env()).start(timeout=60) as process:
        yield process


@pytest.fixture(scope="session")
def sent(subject: Subject, built: Built, server: ServerProcess) -> list[Exchange] | None:
    """The property-based requests over the plugin's operations, sent once for all rules."""
    if built.status != "loaded":
        return None  # each rule says so (a fixture's failure would not name the rule)
    operations = operations_of(schema_of(built.contract), built.owned)
    return exchanges(operations, server.url, subject.max_examples())


@pytest.fixture(scope="session")
def down_server(subject: Subject) -> Iterator[ServerProcess]:
    """``devstack serve`` with the plugin pointed at a closed port (its backend down)."""
    unreachable = subject.unreachable_env(free_port())
    if not unreachable:
        pytest.skip(
            "no backend to take down: the plugin has no host/port/url/addr setting "
            "and declares no DEVSTACK_CONFORMANCE['unreachable']"
        )
    env = {**subject.env(), **unreachable}
    with ServerProcess(env=env).start(timeout=90) as process:
        yield process


@rule("plugin-loads", "it is installed under its name, imports, registers and starts without a failure")
def test_plugin_loads(subject: Subject, built: Built) -> None:
    assert subject.load_error is None, subject.load_error
    assert built.build_error is None, built.build_error
    assert built.status == "loaded", f"the plugin is {built.status}: {built.error}"


@rule("api-version", "it declares the plugin API it was built for, core can run it, devstack-core is bounded")
def test_api_version(subject: Subject) -> None:
    assert subject.plugin is not None, subject.load_error
    require("api-version", static.api_version_findings(subject.plugin, subject.requires))


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


@rule("no-server-errors", "property-based requests over its operations: no answer is a 5xx")
def test_no_server_errors(sent: list[Exchange] | None, server: ServerProcess) -> None:
    assert sent is not None, "the plugin did not load (see plugin-loads)"
    require("no-server-errors", property_rules.no_server_errors(sent, server.url))


@rule("responses-documented", "every answer has a documented status, content type and schema")
def test_responses_documented(sent: list[Exchange] | None, server: ServerProcess) -> None:
    assert sent is not None, "the plugin did not load (see plugin-loads)"
    require("responses-documented", property_rules.responses_documented(sent, server.url))


@rule("invalid-input-rejected", "invalid input is rejected with a 4xx, every 4xx is the JSON error envelope")
def test_invalid_input_rejected(sent: list[Exchange] | None, server: ServerProcess) -> None:
    assert sent is not None, "the plugin did not load (see plugin-loads)"
    require("invalid-input-rejected", property_rules.invalid_input_rejected(sent, server.url))


@rule("valid-input-accepted", "valid input is accepted (or, where declared, rejected for a semantic reason)")
def test_valid_input_accepted(sent: list[Exchange] | None, server: ServerProcess) -> None:
    assert sent is not None, "the plugin did not load (see plugin-loads)"
    require("valid-input-accepted", property_rules.valid_input_accepted(sent, server.url))


@rule("backend-down-503", "with its backend unreachable every operation answers a 503 envelope within its timeout")
def test_backend_down_503(subject: Subject, built: Built, down_server: ServerProcess) -> None:
    operations = operations_of(schema_of(built.contract), built.owned)
    sent = outage.outage_exchanges(operations, down_server.url)
    require("backend-down-503", outage.unavailable_findings(sent, down_server.url, subject.timeout()))


@rule("backend-down-health", "with its backend unreachable /health/NAME says unhealthy, /health/ stays ok")
def test_backend_down_health(subject: Subject, built: Built, down_server: ServerProcess) -> None:
    found = outage.health_simple_findings(down_server.url)
    for name in live.health_names(built.owned):
        found += live.await_health(down_server.url, name, "unhealthy", 2 * subject.timeout())
    require("backend-down-health", found)


@rule("health-body", "/health/NAME always answers 200 with {status: healthy|unhealthy}, healthy when its backend is")
def test_health_body(subject: Subject, built: Built, server: ServerProcess) -> None:
    names = live.health_names(built.owned)
    assert names, "the plugin declares no health check (devstack_health_checks)"
    found = []
    for name in names:
        found += live.await_health(server.url, name, "healthy", 30.0)
    require("health-body", found)


@rule("metrics", "/metrics is valid Prometheus text; its families carry its own prefix and bounded labels")
def test_metrics(subject: Subject, built: Built, sent: list[Exchange] | None, server: ServerProcess) -> None:
    assert sent is not None, "the plugin did not load (see plugin-loads)"
    text = live.metric_text(server.url)
    found = live.metrics_findings(text, subject.name, built.core_metrics, live.sent_values(sent))
    require("metrics", found)


@rule("clean-lifecycle", "startup and shutdown leave no task running and no connection open")
def test_clean_lifecycle(subject: Subject, built: Built) -> None:
    assert built.status == "loaded", f"the plugin is {built.status}: {built.error}"
    found = asyncio.run(live.lifecycle_findings(subject.env(), live.health_names(built.owned)))
    require("clean-lifecycle", found)
