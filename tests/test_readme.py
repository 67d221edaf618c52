"""The README's configuration table lists every setting of core and the six plugins."""

from __future__ import annotations

import subprocess
import sys

from .conftest import REPO


def test_readme_settings_table_is_current() -> None:
    table = subprocess.run(
        [sys.executable, "-m", "devstack.cli", "settings", "--markdown"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "DEVSTACK_LOG_LEVEL": "WARNING"},
    ).stdout.strip()
    readme = (REPO / "README.md").read_text()
    start = readme.index("<!-- settings-table:start -->") + len("<!-- settings-table:start -->")
    end = readme.index("<!-- settings-table:end -->")
    assert readme[start:end].strip() == table, "regenerate: devstack settings --markdown (with all plugins installed)"
    for owner in ("core", "vault", "postgres", "mysql", "mongodb", "redis", "rabbitmq"):
        assert f"| {owner} |" in table
