"""Every bench scenario in one go, on a quiet machine, and one markdown report.

1. Each plugin's and core's own scenario (bench/bench_*.py, run as they are, each with its
   baselines: the bare Quart route, the connection-per-request variants, redis-benchmark).
2. A sweep of every operation of the merged contract on one devstack with all six plugins
   (wrk, same connections, shorter duration), so that no endpoint is missing.
3. The table of every endpoint (req/s, p50, p99, errors, non-2xx) with the scenario it
   comes from, and each scenario's own output (targets, ratios) verbatim.

Run it in an environment holding devstack-core, all six plugins, hvac, aiomysql and asyncpg
(the plugins' own dependencies), with wrk and redis-tools installed and the services of
``scripts/services.sh up`` running:

    .venv-prove/bin/python bench/run_all.py --duration 10 --sweep-duration 5 --output bench/results/run.md

Nothing else should run on the machine meanwhile: every figure is only comparable to the
others of the same run.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(0, str(REPO))

from harness import Result, devstack_server, machine, wrk  # noqa: E402

from tests.support import (  # noqa: E402
    delete_cache_keys,
    delete_mongo_records,
    delete_queue,
    delete_records,
    delete_vault_secret,
    wait_healthy,
)

SCENARIOS = [
    "bench_host",
    "bench_core",
    "bench_vault",
    "bench_databases",
    "bench_mongodb",
    "bench_redis",
    "bench_rabbitmq",
]
ROW = re.compile(r"^\|\s*([^|]+?)\s*\|\s*([\d,.]+)\s*\|\s*([\d.]+)\s*\|\s*([\d.]+)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|")

RANDOM_RECORD = """
math.randomseed(os.time() + os.clock() * 1000000)
request = function()
  local n = math.random(1, 1000000000)
  local body = string.format('{"key": "%s.%d", "value": {"n": %d, "tags": ["a", "b"], "ok": true}}', PREFIX, n, n)
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end
"""


@dataclass
class Row:
    scenario: str
    label: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    non_2xx: int


def run_scenario(name: str, duration: int, connections: int, log: list[str]) -> tuple[str, list[Row]]:
    path = BENCH_DIR / f"{name}.py"
    command = [sys.executable, str(path), "--duration", str(duration), "--connections", str(connections)]
    print(f"== {' '.join(command[1:])}", flush=True)
    started = time.monotonic()
    completed = subprocess.run(command, capture_output=True, text=True, cwd=REPO, check=False, timeout=3600)
    output = completed.stdout + (f"\n(stderr)\n{completed.stderr[-3000:]}" if completed.returncode else "")
    log.append(f"{name}: exit {completed.returncode} in {time.monotonic() - started:.0f} s")
    rows = []
    for line in completed.stdout.splitlines():
        match = ROW.match(line)
        if match:
            label, rps, p50, p99, errors, non_2xx = match.groups()
            rows.append(
                Row(name, label, float(rps.replace(",", "")), float(p50), float(p99), int(errors), int(non_2xx))
            )
    print(output, flush=True)
    return output, rows


def http(method: str, url: str, body: object | None = None) -> dict[str, object]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as answer:
        loaded: dict[str, object] = json.loads(answer.read() or b"{}")
        return loaded


def sweep(duration: int, connections: int) -> list[Row]:
    """Every operation of the contract on one all-plugins server, wrk ``duration`` s each."""
    run = f"bench{uuid.uuid4().hex[:8]}"
    secret, queue = f"{run}-svc", f"{run}.q"
    results: list[Result] = []
    env = {
        "REDIS_EXAMPLES_PREFIX": f"{run}:",
        "DEVSTACK_API_KEYS": "",
    }
    server = devstack_server(env)
    server.ready_path = "/health/live"
    try:
        with server:
            wait_healthy(server.url)
            base = server.url
            http("POST", f"{base}/examples/vault/secret/{secret}", {"a": "b"})
            ciphertext = http("POST", f"{base}/examples/vault/transit/encrypt", {"plaintext": "bench"})["ciphertext"]
            http("POST", f"{base}/examples/cache/hot?value=v&ttl=600")
            options = {"connections": connections, "duration": duration, "warmup": 1}

            def measure(label: str, path: str, **extra: object) -> None:
                print(f"   {label}", flush=True)
                results.append(wrk(label, base + path, **options, **extra))  # type: ignore[arg-type]

            json_post = {"method": "POST", "headers": {"Content-Type": "application/json"}}
            for path in (
                "/",
                "/health/",
                "/health/all",
                "/health/live",
                "/health/ready",
                "/metrics",
                "/openapi.json",
                "/plugins",
                "/docs",
                "/redoc",
                "/docs/assets/swagger-ui.css",
            ):
                measure(f"GET {path}", path)
            for check in ("vault", "postgres", "mysql", "mongodb", "redis", "rabbitmq"):
                measure(f"GET /health/{check}", f"/health/{check}")
            measure("GET /examples/vault/secret/{service} (cached)", "/examples/vault/secret/postgres")
            measure("GET /examples/vault/secret/{service}/{key} (cached)", "/examples/vault/secret/postgres/user")
            measure("GET /examples/vault/secret/{service}/versions/{v}", f"/examples/vault/secret/{secret}/versions/1")
            measure(
                "POST /examples/vault/secret/{service}",
                f"/examples/vault/secret/{secret}",
                body=json.dumps({"a": "b"}),
                **json_post,
            )
            measure(
                "POST /examples/vault/transit/encrypt",
                "/examples/vault/transit/encrypt",
                body=json.dumps({"plaintext": "bench"}),
                **json_post,
            )
            measure(
                "POST /examples/vault/transit/decrypt",
                "/examples/vault/transit/decrypt",
                body=json.dumps({"ciphertext": ciphertext}),
                **json_post,
            )
            for db in ("postgres", "mysql", "mongodb"):
                measure(f"GET /examples/database/{db}/query", f"/examples/database/{db}/query")
                measure(
                    f"POST /examples/database/{db}",
                    f"/examples/database/{db}",
                    lua_request=f'PREFIX = "{run}"\n' + RANDOM_RECORD,
                )
                measure(f"GET /examples/database/{db}?limit=20", f"/examples/database/{db}?limit=20")
            measure("GET /examples/cache/{key}", "/examples/cache/hot")
            measure("POST /examples/cache/{key}", "/examples/cache/hot?value=v&ttl=600", method="POST")
            measure("DELETE /examples/cache/{key}", "/examples/cache/gone", method="DELETE")
            measure("GET /examples/cache/pattern/{pattern}", "/examples/cache/pattern/h*?limit=100")
            for path in (
                "/redis/cluster/nodes",
                "/redis/cluster/slots",
                "/redis/cluster/info",
                "/redis/nodes/redis-1/info",
            ):
                measure(f"GET {path}", path)
            measure(
                "POST /examples/messaging/publish",
                f"/examples/messaging/publish?queue_name={queue}",
                body=json.dumps({"order": 1, "item": "widget"}),
                **json_post,
            )
            measure("GET /examples/messaging/queue/{queue}/info", f"/examples/messaging/queue/{queue}/info")
            measure(
                "POST /examples/messaging/consume/{queue} (max=1)",
                f"/examples/messaging/consume/{queue}?max=1",
                method="POST",
            )
            measure("GET /examples/messaging/queues", "/examples/messaging/queues")
    finally:
        delete_queue(queue)
        delete_cache_keys(f"{run}:")
        delete_records(run)
        delete_mongo_records(run)
        delete_vault_secret(secret)
    return [Row("sweep", r.label, r.rps, r.p50_ms, r.p99_ms, r.errors, r.non_2xx) for r in results]


def table(rows: list[Row]) -> str:
    lines = [
        "| endpoint | scenario | req/s | p50 ms | p99 ms | errors | non-2xx |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r.label} | {r.scenario} | {r.rps:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.errors} | {r.non_2xx} |"
        for r in rows
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per endpoint in the scenarios")
    parser.add_argument("--sweep-duration", type=int, default=5, help="seconds per endpoint in the sweep")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--only", nargs="*", help="scenarios to run (default: all, then the sweep)")
    parser.add_argument("--no-sweep", action="store_true")
    parser.add_argument("--output", default=str(BENCH_DIR / "results" / "run_all.md"))
    args = parser.parse_args()
    command = "python bench/run_all.py " + " ".join(sys.argv[1:])
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    log: list[str] = []
    outputs: list[tuple[str, str]] = []
    rows: list[Row] = []
    for name in args.only or SCENARIOS:
        if not (BENCH_DIR / f"{name}.py").is_file():
            log.append(f"{name}: not present")
            continue
        output, found = run_scenario(name, args.duration, args.connections, log)
        outputs.append((name, output))
        rows += found
    if not args.no_sweep:
        print("== sweep of every operation", flush=True)
        rows += sweep(args.sweep_duration, args.connections)
    report = [
        "# bench/run_all.py report",
        "",
        f"- machine: {machine()}",
        f"- started: {started}",
        f"- command: `{command}`",
        f"- wrk: {args.connections} connections; {args.duration} s per endpoint in the scenarios, "
        f"{args.sweep_duration} s in the sweep",
        *[f"- {line}" for line in log],
        "",
        "## Every endpoint",
        "",
        table(rows),
        "",
        "## Each scenario's output",
    ]
    for name, output in outputs:
        report += ["", f"### {name}", "", "```", output.strip(), "```"]
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text("\n".join(report) + "\n")
    print(f"\nreport written to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
