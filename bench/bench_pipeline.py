"""The request pipeline's cost and the backend routes' cost, in one run, as ratios.

One devstack (all six plugins) with every production feature on (rate limits, API keys,
CORS with an allowed Origin sent, a JSON access line per request at INFO) and the bare
Quart route on the same server stack. Targets (issue 14):

- item 2: GET /health/ and GET / at least 0.8x the bare route's req/s;
- item 3: GET /examples/cache/<key> (redis), GET …/postgres/query and GET …/mysql/query
  at least 0.7x devstack's own GET /health/ in the same run.

Every target is measured in each of ``--rounds`` interleaved rounds (a busy moment of
the machine falls on every target of that round alike); each ratio is the median of the
rounds' ratios, next to the best round's req/s. Beside req/s, the server process's own
CPU time per request (from /proc, children included) is shown: on a machine shared with
other work it moves much less than req/s, and its inverse ratio is what req/s would show
on a quiet machine where the server is the bottleneck.

    .venv/bin/python bench/bench_pipeline.py [--duration 5] [--rounds 3] [--connections 32]
"""

from __future__ import annotations

import argparse
import os
import statistics
import urllib.request
from pathlib import Path

from bench_core import HEADERS, production_env
from harness import Result, bare_quart_server, devstack_server, machine, print_table, wrk

CACHE_KEY = "bench-pipeline-key"
PIPELINE_TARGET, BACKEND_TARGET = 0.8, 0.7

# (label, server, path, baseline label, target)
TARGETS: tuple[tuple[str, str, str, str | None, float | None], ...] = (
    ("bare Quart /health/", "bare", "/health/", None, None),
    ("GET /health/", "devstack", "/health/", "bare Quart /health/", PIPELINE_TARGET),
    ("GET /", "devstack", "/", "bare Quart /health/", PIPELINE_TARGET),
    ("GET /examples/cache/<key>", "devstack", f"/examples/cache/{CACHE_KEY}", "GET /health/", BACKEND_TARGET),
    ("GET postgres/query", "devstack", "/examples/database/postgres/query", "GET /health/", BACKEND_TARGET),
    ("GET mysql/query", "devstack", "/examples/database/mysql/query", "GET /health/", BACKEND_TARGET),
)


TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User and system CPU of ``pid`` and its live descendants (Hypercorn may serve from a child)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return 0.0
    own = (int(fields[11]) + int(fields[12])) / TICKS
    return own + sum(cpu_seconds(int(child)) for child in children)


def seed_cache_key(base_url: str) -> None:
    request = urllib.request.Request(
        f"{base_url}/examples/cache/{CACHE_KEY}?value=bench&ttl=3600", method="POST", headers=HEADERS
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        if answer.status != 200:
            raise SystemExit(f"seeding the cache key answered {answer.status}")


def check(base_url: str, path: str) -> None:
    request = urllib.request.Request(base_url + path, headers=HEADERS)
    with urllib.request.urlopen(request, timeout=10) as answer:
        if answer.status != 200:
            raise SystemExit(f"GET {path} answered {answer.status}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args()
    print(
        f"machine: {machine()}; wrk {args.connections} connections, {args.duration}s per target and round, "
        f"{args.rounds} interleaved rounds; devstack log level {args.log_level}, every feature on"
    )
    server = devstack_server(production_env(args.log_level))
    server.ready_path = "/health/live"  # exempt from API keys
    rounds: list[dict[str, Result]] = []
    cpu: dict[str, list[float]] = {label: [] for label, *_ in TARGETS}
    with bare_quart_server() as bare, server:
        urls = {"bare": bare.url, "devstack": server.url}
        pids = {
            "bare": bare.process.pid if bare.process else 0,
            "devstack": server.process.pid if server.process else 0,
        }
        seed_cache_key(server.url)
        for _label, which, path, _baseline, _target in TARGETS[1:]:
            check(urls[which], path)
        for _ in range(args.rounds):
            measured = {}
            for label, which, path, _baseline, _target in TARGETS:
                headers = HEADERS if which == "devstack" else {}
                # the warm-up's requests are not counted: CPU is read around wrk's measured run only
                wrk(label, urls[which] + path, headers=headers, connections=8, duration=2, warmup=0)
                before = cpu_seconds(pids[which])
                result = wrk(
                    label,
                    urls[which] + path,
                    headers=headers,
                    connections=args.connections,
                    duration=args.duration,
                    warmup=0,
                )
                if result.requests:
                    cpu[label].append((cpu_seconds(pids[which]) - before) / result.requests * 1e6)
                measured[label] = result
            rounds.append(measured)
    report(rounds, cpu)


def report(rounds: list[dict[str, Result]], cpu: dict[str, list[float]]) -> None:
    best = {label: max((run[label] for run in rounds), key=lambda result: result.rps) for label, *_ in TARGETS}
    print_table([best[label] for label, *_ in TARGETS], title="Best round of each target")
    median_cpu = {label: statistics.median(values) if values else 0.0 for label, values in cpu.items()}
    print("\n### Ratios (median over the rounds of each round's ratio)\n")
    print(
        "| target | against | req/s ratio per round | req/s median | server CPU µs/request | "
        "CPU ratio (inverse) | target | met (req/s) | met (CPU) |"
    )
    print("|---|---|---|---:|---:|---:|---:|---|---|")
    for label, _which, _path, baseline, target in TARGETS:
        if baseline is None or target is None:
            print(f"| {label} | | | | {median_cpu[label]:.0f} | | | | |")
            continue
        ratios = [run[label].rps / run[baseline].rps for run in rounds if run[baseline].rps]
        middle = statistics.median(ratios)
        per_round = ", ".join(f"{ratio:.2f}" for ratio in ratios)
        by_cpu = median_cpu[baseline] / median_cpu[label] if median_cpu[label] else 0.0
        met = "met" if middle >= target else "missed"
        met_cpu = "met" if by_cpu >= target else "missed"
        print(
            f"| {label} | {baseline} | {per_round} | {middle:.2f}x | {median_cpu[label]:.0f} | {by_cpu:.2f}x | "
            f"{target:.1f}x | {met} | {met_cpu} |"
        )


if __name__ == "__main__":
    main()
