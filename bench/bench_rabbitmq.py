"""The rabbitmq plugin under load: publish (with publisher confirms), queue info and consume,
next to GET /health/ of the same server in the same run.

Target (issue: rabbitmq plugin): publish at least 0.7x the req/s of GET /health/.

Needs a Python environment with devstack-core and devstack-rabbitmq installed, wrk, and
the services of scripts/services.sh up (RabbitMQ with its management API):

    .venv-rabbitmq/bin/python bench/bench_rabbitmq.py [--duration 10] [--connections 32] [--rounds 3]

The benchmark queue (bench-rabbitmq-<random>) is deleted at the end.
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import time
import urllib.error
import urllib.request
import uuid
from urllib.parse import quote

from harness import Result, devstack_server, machine, print_table, services_env, wrk

MESSAGE = {"order": 1234, "item": "widget", "quantity": 3, "note": "benchmark message"}


def wait_healthy(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/health/rabbitmq", timeout=2) as answer:
                if json.load(answer).get("status") == "healthy":
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("rabbitmq did not become healthy: is scripts/services.sh up?")


def delete_queue(env: dict[str, str], queue: str) -> None:
    """DELETE the queue through the management API (the bench leaves nothing behind)."""
    vhost = quote(env.get("RABBITMQ_VHOST", "/"), safe="")
    request = urllib.request.Request(
        f"{env['RABBITMQ_MANAGEMENT_URL'].rstrip('/')}/api/queues/{vhost}/{quote(queue, safe='')}", method="DELETE"
    )
    token = base64.b64encode(f"{env['RABBITMQ_USER']}:{env['RABBITMQ_PASSWORD']}".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    try:
        urllib.request.urlopen(request, timeout=10).close()
    except urllib.error.HTTPError as error:
        if error.code != 404:
            raise


def publish_latency_ms(url: str) -> float:
    """Mean time the server waited for the broker per publish (pool wait and confirm), from /metrics."""
    values: dict[str, float] = {}
    with urllib.request.urlopen(url + "/metrics", timeout=10) as answer:
        for line in answer.read().decode().splitlines():
            if line.startswith("rabbitmq_operation_duration_seconds_") and 'operation="publish"' in line:
                key, _, value = line.rpartition(" ")
                values[key.split("{", 1)[0]] = float(value)
    count = values.get("rabbitmq_operation_duration_seconds_count", 0.0)
    return 1000 * values.get("rabbitmq_operation_duration_seconds_sum", 0.0) / count if count else 0.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3, help="alternating GET /health/ and publish runs")
    args = parser.parse_args()
    env = services_env()
    queue = f"bench-rabbitmq-{uuid.uuid4().hex[:12]}"
    print(f"machine: {machine()}; wrk {args.connections} connections, {args.duration}s per endpoint")
    common = {"connections": args.connections, "duration": args.duration}
    server = devstack_server({"DEVSTACK_PLUGINS": "rabbitmq", "RABBITMQ_CONNECTION_NAME": "devstack-bench"})
    health: list[Result] = []
    publish: list[Result] = []
    try:
        with server:
            wait_healthy(server.url)
            for round_number in range(1, args.rounds + 1):
                health.append(wrk(f"GET /health/ #{round_number}", server.url + "/health/", **common))
                publish.append(
                    wrk(
                        f"POST /examples/messaging/publish #{round_number}",
                        f"{server.url}/examples/messaging/publish?queue_name={queue}",
                        method="POST",
                        body=json.dumps(MESSAGE),
                        headers={"Content-Type": "application/json"},
                        **common,
                    )
                )
            confirm_ms = publish_latency_ms(server.url)
            info = wrk("GET .../queue/{q}/info", f"{server.url}/examples/messaging/queue/{queue}/info", **common)
            consume = wrk(
                "POST .../consume/{q} (max=1)",
                f"{server.url}/examples/messaging/consume/{queue}?max=1",
                method="POST",
                **common,
            )
            consume_10 = wrk(
                "POST .../consume/{q} (max=10)",
                f"{server.url}/examples/messaging/consume/{queue}?max=10",
                method="POST",
                **common,
            )
    finally:
        delete_queue(env, queue)
    baseline = health[0]
    rows = [item for pair in zip(health, publish, strict=True) for item in pair]
    print_table([*rows, info, consume, consume_10], baseline=baseline, title="rabbitmq plugin")
    health_rps = statistics.median(result.rps for result in health)
    publish_rps = statistics.median(result.rps for result in publish)
    ratio = publish_rps / health_rps if health_rps else 0.0
    print(
        f"\nmedian of {args.rounds} rounds: GET /health/ {health_rps:,.0f} req/s, publish {publish_rps:,.0f} req/s: "
        f"{ratio:.2f}x (target >= 0.70x); mean wait for the broker per publish {confirm_ms:.1f} ms"
    )


if __name__ == "__main__":
    main()
