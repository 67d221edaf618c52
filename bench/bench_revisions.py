"""Two revisions of devstack side by side in one run: the same routes, alternating rounds.

Each revision is a Python environment holding that revision's devstack-core and plugins
(``--before PYTHON`` and ``--after PYTHON``, the latter by default this interpreter). Both
serve with the same settings (the services' env, rate limits off, WARNING logs); rounds
alternate before/after so that drift of the machine falls on both. Prints req/s per route
and revision (the median of the rounds) and the after/before ratio.

    python bench/bench_revisions.py --before /path/to/old-venv/bin/python --rounds 3 --duration 5

Not a test: nothing asserts a timing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import urllib.request

from harness import Server, devstack_server, free_port, machine, wrk

ROUTES = (
    "/health/",
    "/",
    "/examples/database/postgres/query",
    "/examples/database/mysql/query",
    "/examples/cache/bench-key",
)
CACHE_KEY_WRITE = "/examples/cache/bench-key?value=bench&ttl=3600"


def served_by(python: str) -> Server:
    """``devstack serve`` from the environment of ``python``."""
    server = devstack_server()
    server.command = [python, "-m", "devstack.cli", "serve"]
    return server


def measure(python: str, routes: list[str], duration: int, connections: int) -> dict[str, float]:
    port = free_port()
    server = served_by(python)
    server.port = port
    server.env["DEVSTACK_PORT"] = str(port)
    with server:
        # the cache route reads a key that exists (a miss is a 404, not the path measured)
        urllib.request.urlopen(urllib.request.Request(server.url + CACHE_KEY_WRITE, method="POST"), timeout=10).close()
        return {
            route: wrk(route, server.url + route, duration=duration, connections=connections).rps for route in routes
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", required=True, help="python of the environment with the older revision")
    parser.add_argument("--after", default=sys.executable, help="python of the newer revision (default: this one)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5, help="seconds per route and round")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--route", action="append", help="a route to measure (repeatable; default: a fixed set)")
    args = parser.parse_args()
    routes = args.route or list(ROUTES)
    runs: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
    for _ in range(args.rounds):
        for name, python in (("before", args.before), ("after", args.after)):
            runs[name].append(measure(python, routes, args.duration, args.connections))
    print(f"\n{machine()}; {args.rounds} alternating rounds of {args.duration} s, wrk -c{args.connections}\n")
    print("| route | before req/s | after req/s | after/before |")
    print("|---|---:|---:|---:|")
    for route in routes:
        before = statistics.median(run[route] for run in runs["before"])
        after = statistics.median(run[route] for run in runs["after"])
        print(f"| GET {route} | {before:,.0f} | {after:,.0f} | {after / before:.2f}x |")


if __name__ == "__main__":
    main()
