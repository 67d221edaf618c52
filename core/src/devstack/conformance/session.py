"""``pytest --devstack-conformance=NAME``: the session runs the suite, and only it.

The option is added by devstack's pytest plugin (``devstack.testkit.pytest_plugin``);
given it, the session collects this package's ``suite`` module in place of the paths on
the command line, so the same command works in any environment where NAME is installed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

OPTION = "--devstack-conformance"
SUITE = Path(__file__).with_name("suite.py")


def add_option(parser: pytest.Parser) -> None:
    group = parser.getgroup("devstack")
    group.addoption(
        OPTION,
        action="store",
        default=None,
        metavar="NAME",
        help="run devstack's conformance suite against the installed plugin NAME (and nothing else)",
    )


def configure_conformance(config: pytest.Config, name: str) -> None:
    """Collect the suite instead of the command line's paths."""
    config.args = [str(SUITE)]
    config.addinivalue_line("markers", f"devstack_conformance: a rule of the conformance suite (plugin {name})")


def plugin_name(config: pytest.Config) -> str:
    name = config.getoption(OPTION, default=None)
    if not name:
        raise pytest.UsageError(f"the conformance suite runs with {OPTION}=NAME")
    return str(name)
