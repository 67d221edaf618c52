"""The redis plugin under load: cache GET, cache SET and the key search, next to GET /health/
of the same server in the same run, plus redis-benchmark GET/SET against the same Redis.

Both deployments are measured: the 3-node cluster (REDIS_NODES set, as the reference
served its cache) and the standalone server. Target (issue: redis plugin): cache GET at
least 0.7x the req/s of GET /health/. The reference served its cache GET at about 22 req/s
on this kind of machine (a new client and a Vault read per request).

Needs a Python environment with devstack-core and devstack-redis installed, wrk and
redis-tools (redis-benchmark), and the services of scripts/services.sh up:

    .venv-redis/bin/python bench/bench_redis.py [--duration 5] [--rounds 3] [--connections 32]
        [--mode cluster|standalone|both]

The endpoints are measured in interleaved rounds (req/s over all rounds, median p50/p99),
so that load from other processes on the machine falls on every endpoint alike.
"""

from __future__ import annotations

import argparse
import csv
import io
import statistics
import subprocess
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis
from harness import Result, devstack_server, machine, print_table, services_env, wrk
from redis.cluster import ClusterNode, RedisCluster

PREFIX = "bench:"  # REDIS_EXAMPLES_PREFIX of the benchmarked server
SEARCH_KEYS = 2000


def cluster_nodes(setting: str) -> list[tuple[str, int]]:
    found = []
    for item in setting.split(","):
        address = item.partition("=")[2] or item
        host, _, port = address.rpartition(":")
        found.append((host, int(port)))
    return found


@contextmanager
def direct_client(mode: str, env: dict[str, str]) -> Iterator[Any]:
    """A redis-py client to the deployment, for seeding and cleaning the bench keys."""
    if mode == "cluster":
        nodes = [ClusterNode(host, port) for host, port in cluster_nodes(env["REDIS_NODES"])]
        client: Any = RedisCluster(startup_nodes=nodes, password=env["REDIS_CLUSTER_PASSWORD"])
    else:
        client = redis.Redis.from_url(env["REDIS_URL"])
    try:
        yield client
    finally:
        client.close()


def seed(client: Any) -> None:
    pipe = client.pipeline()
    for index in range(SEARCH_KEYS):
        pipe.set(f"{PREFIX}item:{index}", b"v", ex=600)
    pipe.set(f"{PREFIX}hot", b"a cached value", ex=600)
    pipe.execute()


def clean(client: Any) -> None:
    for pattern in (f"{PREFIX}*", "key:*__rand_int__*", "key:__rand_int__"):
        for key in list(client.scan_iter(match=pattern, count=1000)):
            client.delete(key)


def redis_benchmark(mode: str, env: dict[str, str], connections: int, requests: int) -> list[Result]:
    """redis-benchmark GET and SET (one key, 3-byte values) against the same Redis."""
    if mode == "cluster":
        host, port = cluster_nodes(env["REDIS_NODES"])[0]
        target = ["--cluster", "-h", host, "-p", str(port), "-a", env["REDIS_CLUSTER_PASSWORD"]]
    else:
        target = ["-u", env["REDIS_URL"]]
    completed = subprocess.run(
        ["redis-benchmark", *target, "-t", "set,get", "-n", str(requests), "-c", str(connections), "--csv"],
        capture_output=True,
        text=True,
        check=True,
    )
    lines = [line for line in completed.stdout.splitlines() if line.startswith('"')]
    results = []
    for row in csv.DictReader(io.StringIO("\n".join(lines))):
        rps = float(row["rps"])
        results.append(
            Result(
                f"redis-benchmark {row['test']} ({mode})",
                requests,
                requests / rps,
                float(row["p50_latency_ms"]),
                float(row["p95_latency_ms"]),
                float(row["p99_latency_ms"]),
                0,
                0,
            )
        )
    return results


def combine(label: str, runs: list[Result]) -> Result:
    """Several runs of one endpoint: req/s over all of them, median p50/p90/p99."""
    return Result(
        label,
        sum(run.requests for run in runs),
        sum(run.seconds for run in runs),
        statistics.median(run.p50_ms for run in runs),
        statistics.median(run.p90_ms for run in runs),
        statistics.median(run.p99_ms for run in runs),
        sum(run.errors for run in runs),
        sum(run.non_2xx for run in runs),
    )


def check(url: str, method: str = "GET") -> None:
    request = urllib.request.Request(url, method=method)
    with urllib.request.urlopen(request, timeout=10) as answer:
        if answer.status != 200:
            raise SystemExit(f"{method} {url} answered {answer.status}")


def bench_mode(mode: str, args: argparse.Namespace) -> None:
    env = services_env()
    server_env = {"REDIS_EXAMPLES_PREFIX": PREFIX}
    if mode == "standalone":
        server_env["REDIS_NODES"] = ""
    with direct_client(mode, env) as client:
        seed(client)
        try:
            with devstack_server(server_env) as server:
                cache = server.url + "/examples/cache"
                for url, method in [
                    (f"{cache}/hot", "GET"),
                    (f"{cache}/written?value=bench&ttl=600", "POST"),
                    (f"{cache}/pattern/item:1*?limit=100", "GET"),
                ]:
                    check(url, method)
                endpoints = [
                    (f"GET /health/ ({mode})", server.url + "/health/", "GET"),
                    (f"GET /examples/cache/hot ({mode})", f"{cache}/hot", "GET"),
                    (f"POST /examples/cache/written ({mode})", f"{cache}/written?value=bench&ttl=600", "POST"),
                    (
                        f"GET /examples/cache/pattern/item:1* limit 100 ({mode}, {SEARCH_KEYS} keys)",
                        f"{cache}/pattern/item:1*?limit=100",
                        "GET",
                    ),
                ]
                runs: dict[str, list[Result]] = {label: [] for label, _, _ in endpoints}
                for _ in range(args.rounds):  # interleaved, so that load from elsewhere hits every endpoint alike
                    for label, url, method in endpoints:
                        runs[label].append(
                            wrk(label, url, method=method, connections=args.connections, duration=args.duration)
                        )
                results = [combine(label, found) for label, found in runs.items()]
                baseline = results[0]
            results += redis_benchmark(mode, env, args.connections, args.redis_requests)
            print_table(results, baseline=baseline, title=f"redis plugin, {mode}")
        finally:
            clean(client)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=5, help="seconds per endpoint and round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds over the endpoints")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--redis-requests", type=int, default=200_000)
    parser.add_argument("--mode", choices=["cluster", "standalone", "both"], default="both")
    args = parser.parse_args()
    print(
        f"machine: {machine()}; wrk {args.connections} connections, {args.rounds} interleaved rounds of "
        f"{args.duration}s per endpoint"
    )
    for mode in ("cluster", "standalone") if args.mode == "both" else (args.mode,):
        bench_mode(mode, args)


if __name__ == "__main__":
    main()
