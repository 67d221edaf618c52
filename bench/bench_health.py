"""Uncached GET /health/all next to its slowest probe, with every plugin loaded.

Target (issue 14, item 4): uncached /health/all within 1.5x of its slowest probe. Each
route is timed one request at a time over one keep-alive connection (the median of
``--requests``); "slowest probe" is the slowest GET /health/<name>, the same probe served
alone through the same pipeline. Then wrk drives /health/all with the cache off.

    .venv/bin/python bench/bench_health.py [--requests 300] [--duration 6] [--connections 32]
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import time

from harness import devstack_server, machine, print_table, wrk


def median_ms(connection: http.client.HTTPConnection, path: str, requests: int) -> float:
    """The median wall time of ``requests`` sequential GETs of ``path``, after a warm-up."""
    samples = []
    for attempt in range(requests + 20):
        started = time.perf_counter()
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise SystemExit(f"GET {path} answered {response.status}")
        if attempt >= 20:
            samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--duration", type=int, default=6)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    print(f"machine: {machine()}; {args.requests} sequential requests per route, then wrk -c{args.connections}")
    with devstack_server({"DEVSTACK_HEALTH_CACHE_TTL": "0"}) as server:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        connection.request("GET", "/health/all")
        checks = sorted(json.loads(connection.getresponse().read())["services"])
        probes = {name: median_ms(connection, f"/health/{name}", args.requests) for name in checks}
        everything = median_ms(connection, "/health/all", args.requests)
        connection.close()
        loaded = wrk(
            "GET /health/all, cache off",
            server.url + "/health/all",
            connections=args.connections,
            duration=args.duration,
        )
    print("\n### Uncached /health/all against its slowest probe (median ms, one request at a time)\n")
    print("| route | median ms |\n|---|---:|")
    for name, value in sorted(probes.items(), key=lambda item: -item[1]):
        print(f"| GET /health/{name} | {value:.2f} |")
    slowest = max(probes, key=probes.__getitem__)
    ratio = everything / probes[slowest]
    print(f"| GET /health/all | {everything:.2f} |")
    verdict = "met" if ratio <= 1.5 else "missed"
    print(f"\n/health/all / slowest probe ({slowest}): {ratio:.2f}x (target 1.5x: {verdict})")
    print_table([loaded], title="GET /health/all under load, cache off")


if __name__ == "__main__":
    main()
