"""The conformance suite fails, naming the rule, on a plugin that breaks it; a plugin that
keeps every rule passes. Each test installs fixture plugins (core/tests/fixtures/conformance)
by writing their dist-info, and runs ``pytest --devstack-conformance=NAME`` with pytester
(in-process).

The probe plugins' backend is the shared Redis port (any listening service would do).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from devstack.conformance import RULES, suite  # importing the suite registers its rules

pytest_plugins = ["pytester"]
assert suite.__name__  # the rules are registered

FIXTURES = Path(__file__).parent / "fixtures" / "conformance"
HELLO = Path(__file__).parents[2] / "tests" / "fixtures" / "devstack-hello" / "src"
BOUNDED = "devstack-core>=0.1.0,<0.2"


def install(base: Path, plugins: dict[str, str], requires: str = BOUNDED) -> str:
    """A sys.path entry where each plugin is an installed distribution (its dist-info)."""
    site = base / "site"
    for name, target in plugins.items():
        info = site / f"devstack_fixture_{name}-0.1.0.dist-info"
        info.mkdir(parents=True)
        metadata = f"Metadata-Version: 2.1\nName: devstack-fixture-{name}\nVersion: 0.1.0\nRequires-Dist: {requires}\n"
        (info / "METADATA").write_text(metadata)
        (info / "entry_points.txt").write_text(f"[devstack.plugins]\n{name} = {target}\n")
    return os.pathsep.join([str(site), str(FIXTURES), str(HELLO)])


@pytest.fixture
def conformance(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Run the suite against one installed fixture plugin (and its neighbours)."""

    def run(name: str, plugins: dict[str, str], *args: str, requires: str = BOUNDED) -> pytest.RunResult:
        pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
        path = install(pytester.path, plugins, requires)
        monkeypatch.setenv("PYTHONPATH", path)  # for the suite's `devstack serve` processes
        for entry in reversed(path.split(os.pathsep)):
            monkeypatch.syspath_prepend(entry)
        monkeypatch.setenv("DEVSTACK_CONFORMANCE_EXAMPLES", "8")
        # in-process (pytester restores sys.modules afterwards): a pytest start per test would cost more than the test
        return pytester.runpytest(f"--devstack-conformance={name}", "-p", "no:cacheprovider", *args)

    return run


def broken(name: str) -> dict[str, str]:
    return {name: f"devstack_conformance_fixtures.broken:{name}"}


def assert_broken(result: pytest.RunResult, rule: str, *details: str) -> str:
    output = result.stdout.str()
    assert result.ret == 1, output[-3000:]
    assert f"conformance rule '{rule}' broken" in output, output[-3000:]
    for detail in details:
        assert detail in output, output[-3000:]
    return output


def test_a_plugin_that_keeps_every_rule_passes(conformance) -> None:  # type: ignore[no-untyped-def]
    result = conformance("probe", {"probe": "devstack_conformance_fixtures.probe:probe"})
    result.assert_outcomes(passed=len(RULES))


def test_the_third_party_hello_plugin_passes(conformance) -> None:  # type: ignore[no-untyped-def]
    """It has no backend: the two outage rules have nothing to take down."""
    result = conformance("hello", {"hello": "devstack_hello.plugin"})
    result.assert_outcomes(passed=len(RULES) - 2, skipped=2)


def test_plugin_loads(conformance) -> None:  # type: ignore[no-untyped-def]
    """An unknown name fails, naming the installed plugins."""
    result = conformance("nope", {"probe": "devstack_conformance_fixtures.probe:probe"}, "-k", "loads")
    assert_broken(result, "plugin-loads", "no plugin 'nope' is installed (installed: probe)")


def test_api_version(conformance) -> None:  # type: ignore[no-untyped-def]
    result = conformance("future", broken("future"), "-k", "api_version or loads")
    assert_broken(result, "api-version", "built for plugin API 2.0")
    assert_broken(result, "plugin-loads", "compatibility failed: built for plugin API 2.0")


def test_api_version_needs_a_bounded_core(conformance) -> None:  # type: ignore[no-untyped-def]
    plugins = {"probe": "devstack_conformance_fixtures.probe:probe"}
    result = conformance("probe", plugins, "-k", "api_version", requires="devstack-core>=0.1")
    assert_broken(result, "api-version", "does not bound devstack-core from above")


def test_contract_valid(conformance) -> None:  # type: ignore[no-untyped-def]
    result = conformance("dangling", broken("dangling"), "-k", "contract_valid or loads")
    assert_broken(result, "contract-valid", "#/components/responses/Nope names nothing")
    assert_broken(result, "plugin-loads", "$ref names nothing")  # core refuses it at load


# rule -> the fixture plugin that breaks it, and what the failure must say
BROKEN = {
    "contract-merges": ("collides", ["operationId health_simple is also defined by core"]),
    "routes-documented": ("undocumented", ["route GET /probe-extra has no operation in the contract"]),
    "no-server-errors": ("crashes", ["GET /probe/{name}: answered 500", "request: curl -X GET"]),
    "responses-documented": ("misdocumented", ["GET /probe/{name}:", "Response violates schema", "curl"]),
    "invalid-input-rejected": ("bare", ["GET /probe/{name}: a 409 that is not JSON", "curl"]),
    "valid-input-accepted": ("picky", ["GET /probe/{name}:", "rejected", "curl"]),
    "backend-down-503": ("fragile", ["GET /probe/{name}: answered 500, not 503", "curl"]),
    "backend-down-health": ("optimist", ["GET /health/probe did not say unhealthy"]),
    "health-body": ("shapeless", ["GET /health/probe", "invalid answer"]),
    "metrics": ("unprefixed", ["metric names_seen is not under the plugin's prefix unprefixed_", "a label carries"]),
    "settings-documented": (
        "careless",
        ["CarelessSettings.password: no description", "password: a secret-like setting that is not a SecretStr"],
    ),
    "clean-lifecycle": ("leaky", ["task left running after shutdown"]),
}


@pytest.mark.parametrize("rule", sorted(BROKEN))
def test_a_broken_rule_fails_naming_it(conformance, rule: str) -> None:  # type: ignore[no-untyped-def]
    plugin, details = BROKEN[rule]
    result = conformance(plugin, broken(plugin), "-k", "test_" + rule.replace("-", "_"))
    assert_broken(result, rule, *details)


def test_contract_merges_with_every_other_installed_plugin(conformance) -> None:  # type: ignore[no-untyped-def]
    plugins = {**broken("collides"), "probe": "devstack_conformance_fixtures.probe:probe"}
    result = conformance("probe", plugins, "-k", "contract_merges")
    assert_broken(result, "contract-merges", "operation GET /probe/{name} is also defined by collides")


def test_every_rule_has_a_test_here() -> None:
    tested = set(BROKEN) | {"plugin-loads", "api-version", "contract-valid"}
    assert set(RULES) == tested, sorted(set(RULES) ^ tested)
