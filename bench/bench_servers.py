"""Both servers of ``devstack serve`` in one run: every scenario next to its baseline.

On Hypercorn and on Granian (``DEVSTACK_SERVER``), each with every production feature on
(rate limits, API key, CORS origin, JSON access log at INFO; see bench_core.py) and all
six plugins, next to the bare Quart route on the same server:

- GET /health/ and GET / against the bare route (target: at least 0.8x);
- the backend routes (cache GET, the postgres and mysql queries) against devstack's own
  GET /health/ (target: at least 0.7x).

Rounds are interleaved (every target once per round) and the best round of each target
is kept, so that a busy moment of the machine falls on every target alike. Prints one
markdown table with the ratios and met/missed, and writes it to ``--output``.

    python bench/bench_servers.py [--duration 5] [--rounds 2] [--connections 32] [--output FILE]

Not a test: nothing asserts a timing.
"""

from __future__ import annotations

import argparse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench_core import API_KEY, HEADERS, production_env
from harness import Result, Server, bare_quart_server, devstack_server, machine, wrk

SERVERS = ("hypercorn", "granian")
CACHE_KEY = "/examples/cache/bench-key"
HOST_TARGET = 0.8
BACKEND_TARGET = 0.7


@dataclass(frozen=True)
class Target:
    label: str
    which: str  # "bare" or "devstack"
    path: str
    baseline: str | None  # the label this one's ratio is against
    goal: float = 0.0


TARGETS = (
    Target("bare Quart GET /health/", "bare", "/health/", None),
    Target("GET /health/", "devstack", "/health/", "bare Quart GET /health/", HOST_TARGET),
    Target("GET /", "devstack", "/", "bare Quart GET /health/", HOST_TARGET),
    Target(f"GET {CACHE_KEY}", "devstack", CACHE_KEY, "GET /health/", BACKEND_TARGET),
    Target(
        "GET /examples/database/postgres/query",
        "devstack",
        "/examples/database/postgres/query",
        "GET /health/",
        BACKEND_TARGET,
    ),
    Target(
        "GET /examples/database/mysql/query",
        "devstack",
        "/examples/database/mysql/query",
        "GET /health/",
        BACKEND_TARGET,
    ),
)


def judged(
    scores: dict[tuple[str, str], float], digits: int = 2, cost: bool = False
) -> Iterator[tuple[str, Target, float, tuple[str, str, str]]]:
    """Every (server, target) with its score and its table cells: the ratio to its baseline
    on the same server, the target, met or missed (empty for a baseline). A score is a
    throughput (req/s), or with ``cost`` what a request costs, whose ratio is inverted."""
    for server in SERVERS:
        for target in TARGETS:
            score = scores[(server, target.label)]
            cells = ("", "", "")
            if target.baseline is not None:
                baseline = scores[(server, target.baseline)]
                value = baseline / score if cost else score / baseline
                verdict = "met" if value >= target.goal else "missed"
                cells = (f"{value:.{digits}f}x of {target.baseline}", f"{target.goal:.1f}x", verdict)
            yield server, target, score, cells


def devstack_on(server: str) -> Server:
    process = devstack_server({**production_env("INFO"), "DEVSTACK_SERVER": server})
    process.name = f"devstack-{server}"
    process.ready_path = "/health/live"  # exempt from API keys
    return process


def write_cache_key(url: str) -> None:
    """The cache route reads a key that exists (a miss is a 404, not the path measured)."""
    request = urllib.request.Request(
        url + CACHE_KEY + "?value=bench&ttl=3600", method="POST", headers={"X-API-Key": API_KEY}
    )
    urllib.request.urlopen(request, timeout=10).close()


def measure(server: str, args: argparse.Namespace, best: dict[tuple[str, str], Result]) -> None:
    """One round of every target on ``server``; keeps the best result of each."""
    with bare_quart_server(server=server) as bare, devstack_on(server) as devstack:
        write_cache_key(devstack.url)
        urls = {"bare": bare.url, "devstack": devstack.url}
        for target in TARGETS:
            headers = HEADERS if target.which == "devstack" else {}
            result = wrk(
                target.label,
                urls[target.which] + target.path,
                headers=headers,
                connections=args.connections,
                duration=args.duration,
                threads=args.threads,
            )
            key = (server, target.label)
            if key not in best or result.rps > best[key].rps:
                best[key] = result


def report(best: dict[tuple[str, str], Result]) -> list[str]:
    """The markdown table: req/s per target and server, the ratio, met or missed."""
    lines = [
        "| route | server | req/s | p99 ms | non-2xx | ratio | target | |",
        "|---|---|---:|---:|---:|---|---:|---|",
    ]
    for server, target, _rps, (ratio, goal, verdict) in judged({key: result.rps for key, result in best.items()}):
        result = best[(server, target.label)]
        lines.append(
            f"| {target.label} | {server} | {result.rps:,.0f} | {result.p99_ms:.2f} | "
            f"{result.non_2xx + result.errors} | {ratio} | {goal} | {verdict} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=5, help="seconds per target and round")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds; the best of each is kept")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (one leaves the servers more CPU)")
    parser.add_argument("--output", type=Path, help="also write the table (markdown) here")
    args = parser.parse_args()
    best: dict[tuple[str, str], Result] = {}
    for _ in range(args.rounds):
        for server in SERVERS:
            measure(server, args, best)
    header = (
        f"{machine()}; wrk -t{args.threads} -c{args.connections}, {args.duration} s per target and round, "
        f"best of {args.rounds} interleaved rounds; every feature on, JSON access log at INFO"
    )
    publish(header, report(best), args.output)


def publish(header: str, table: list[str], output: Path | None) -> None:
    """Print the header and the table, and write them to ``output`` when given."""
    text = "\n".join([header, "", *table]) + "\n"
    print("\n" + text)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
