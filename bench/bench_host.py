"""GET /health/ of devstack with every plugin loaded, next to the bare Quart route.

Target (issue: core host): at least 0.8x the bare route's req/s, p99 at most 1.5x.

    .venv/bin/python bench/bench_host.py [--duration 10] [--connections 32]
"""

from __future__ import annotations

import argparse

from harness import bare_quart_server, devstack_server, machine, print_table, wrk


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    print(f"machine: {machine()}; wrk {args.connections} connections, {args.duration}s per endpoint")
    with bare_quart_server() as bare:
        baseline = wrk(
            "bare Quart /health/", bare.url + "/health/", connections=args.connections, duration=args.duration
        )
    core_only = {"DEVSTACK_DISABLE_PLUGINS": "vault,postgres,mysql,mongodb,redis,rabbitmq"}
    with devstack_server(core_only) as server:
        results = [
            wrk(
                "devstack core only GET /health/",
                server.url + "/health/",
                connections=args.connections,
                duration=args.duration,
            ),
        ]
    with devstack_server() as server:
        results += [
            wrk(
                "devstack all plugins GET /health/",
                server.url + "/health/",
                connections=args.connections,
                duration=args.duration,
            ),
            wrk(
                "devstack all plugins GET /health/live",
                server.url + "/health/live",
                connections=args.connections,
                duration=args.duration,
            ),
        ]
    print_table([baseline, *results], baseline=baseline, title="Host overhead")


if __name__ == "__main__":
    main()
