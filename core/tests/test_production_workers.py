"""``devstack serve --workers 2`` (Hypercorn and Granian): /metrics aggregates both workers, rate limits are shared
through Redis, SIGTERM stops both workers cleanly."""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path

import pytest
from production_support import get, server_env

from devstack.testing import ServerProcess

pytestmark = pytest.mark.slow


def requests_served(metrics: str, endpoint: str, status: str) -> float:
    pattern = rf'http_requests_total{{endpoint="{re.escape(endpoint)}",method="GET",status="{status}"}} ([0-9.e+]+)'
    match = re.search(pattern, metrics)
    if match is None:  # label order differs between exposition modes
        pattern = rf'http_requests_total{{method="GET",endpoint="{re.escape(endpoint)}",status="{status}"}} ([0-9.e+]+)'
        match = re.search(pattern, metrics)
    return float(match.group(1)) if match else 0.0


def test_two_workers_share_metrics_and_redis_rate_limits(tmp_path: Path, server_name: str) -> None:
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_999999.db").write_bytes(b"stale")  # cleaned at start
    prefix = f"devstack-test-{uuid.uuid4().hex}"
    env = server_env(
        server_name,
        DEVSTACK_WORKERS="2",
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
        DEVSTACK_RATE_LIMIT_ENABLED="true",
        DEVSTACK_RATE_LIMIT_STORAGE="redis://127.0.0.1:6379/1",
        DEVSTACK_RATE_LIMIT_KEY_PREFIX=prefix,
        DEVSTACK_RATE_LIMIT_GENERAL="10/minute",
        DEVSTACK_RATE_LIMIT_METRICS="1000/minute",
    )
    server = ServerProcess(env=env).start(timeout=60)
    try:
        deadline = time.monotonic() + 60
        while server.log().count("Running on http://") < 2:  # both workers listen
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.1)
        assert not (metrics_dir / "counter_999999.db").exists()
        statuses: list[int] = []
        for _ in range(40):  # a new connection each: the kernel hands them to either worker
            status, headers, _body = get(server.port, "/openapi.json")
            statuses.append(status)
            assert headers["x-ratelimit-limit"] == "10"
        assert statuses.count(200) == 10  # one budget for both workers
        assert statuses.count(429) == 30

        writers = {path.name.split("_")[-1] for path in metrics_dir.glob("counter_*.db")}
        assert len(writers) == 2, writers  # both workers served requests and wrote samples

        for _ in range(4):  # whichever worker answers, it reports all of them
            status, _headers, body = get(server.port, "/metrics")
            assert status == 200
            text = body.decode()
            assert requests_served(text, "/openapi.json", "200") == 10.0
            assert requests_served(text, "/openapi.json", "429") == 30.0
    finally:
        code = server.stop()
    assert code == 0
