"""devstack's conformance suite: what every plugin, ours or anyone's, must honour.

Run it with ``pytest --devstack-conformance=NAME`` in any environment where plugin NAME
and ``devstack-core[conformance]`` are installed. Each rule is one test with a stable
name (``devstack.conformance.rules.RULES``); a broken rule fails with a message that
starts ``conformance rule 'NAME' broken`` and names the operation and the request.
"""

from __future__ import annotations

from devstack.conformance.rules import RULES, Violation

__all__ = ["RULES", "Violation"]
