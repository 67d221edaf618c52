"""The soak of bench/soak.py, short: ~60 s at 16 connections over the endpoint mix (the
manual run is ``bench/soak.py --minutes 10 --connections 32``). Same assertions: 0 errors,
RSS growth under 10 % after warm-up, open file descriptors and backend connections flat
(counted from the servers' side: pg_stat_activity, MariaDB processlist, Redis CLIENT LIST,
RabbitMQ management API; MongoDB and Vault from the process's sockets).

    DEVSTACK_TEST_SOAK_SECONDS=60 DEVSTACK_TEST_SOAK_CONNECTIONS=16 pytest tests/test_soak_short.py -s
"""

from __future__ import annotations

import importlib.util
import os
import sys
from types import ModuleType

from .support import REPO

SECONDS = int(os.environ.get("DEVSTACK_TEST_SOAK_SECONDS", "60"))
CONNECTIONS = int(os.environ.get("DEVSTACK_TEST_SOAK_CONNECTIONS", "16"))


def soak_module() -> ModuleType:
    path = REPO / "bench" / "soak.py"
    spec = importlib.util.spec_from_file_location("devstack_bench_soak", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_short_soak_holds() -> None:
    soak = soak_module()
    result = soak.soak(SECONDS, CONNECTIONS, warmup=max(15.0, SECONDS / 4), sample_every=2.0)
    print("\n" + result.summary())
    assert result.requests > SECONDS * 10, f"the load hardly ran: {result.requests} requests"
    problems = result.problems()
    assert not problems, "; ".join(problems)
