"""Every hook spec is documented and tested (after Datasette's test_plugins.py)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from devstack.plugin_system import hookspecs

HOOKS = sorted(name for name, value in vars(hookspecs).items() if name.startswith("devstack_") and callable(value))
TEST_SOURCES = "\n".join(path.read_text() for path in Path(__file__).parent.glob("test_*.py"))


def test_there_are_hooks() -> None:
    assert len(HOOKS) >= 10


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_has_docstring_saying_when_and_what(hook: str) -> None:
    doc = inspect.getdoc(getattr(hookspecs, hook)) or ""
    assert len(doc) > 80, f"{hook} needs a docstring"
    assert re.search(r"\bcalled\b", doc, re.IGNORECASE), f"{hook}'s docstring must say when it is called"
    assert re.search(r"\breturns?\b", doc, re.IGNORECASE), f"{hook}'s docstring must say what it returns"


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_has_a_test(hook: str) -> None:
    assert re.search(rf"def test_hook_{hook}\b", TEST_SOURCES), f"no test named test_hook_{hook}"


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_fully_typed(hook: str) -> None:
    signature = inspect.signature(getattr(hookspecs, hook))
    assert signature.return_annotation is not inspect.Signature.empty
    for parameter in signature.parameters.values():
        assert parameter.annotation is not inspect.Parameter.empty, f"{hook}({parameter.name}) has no type"
