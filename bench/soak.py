"""Soak: devstack with all six plugins under a steady load over the endpoint mix for a
long time; asserts 0 errors, RSS growth under 10 % after warm-up, and open file
descriptors and backend connections flat.

The mix: GET /health/, /health/all, /metrics, the Vault secret (cached) and transit
encrypt, each database's query, record insert and record list, the cache set, get and
pattern search, the cluster info, publish + consume + queue info on one queue (so that it
stays short). The load is wrk (Lua script cycling through the mix) when installed, else
an asyncio httpx generator with the same mix. Every few seconds it samples the devstack
process: RSS (/proc/<pid>/status), open fds (/proc/<pid>/fd) and its connections to each
backend as the servers list them (pg_stat_activity, the MariaDB processlist, CLIENT LIST
of every Redis node, the RabbitMQ management API; MongoDB and Vault from the process's
own sockets). Errors: wrk's socket errors and non-2xx answers, and every non-2xx that
devstack's /metrics counted, by route.

    .venv/bin/python bench/soak.py --minutes 10 --connections 32      # the manual run
    .venv/bin/python bench/soak.py --seconds 60 --connections 16      # what CI runs

Exit status 1 when an assertion fails. The records, cache keys and queue it writes carry a
prefix unique to the run and are removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import sys
import threading
import time
import urllib.request
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(0, str(REPO))

from harness import LUA_DONE, Server, devstack_server, machine, run_wrk_script  # noqa: E402

from tests.support import (  # noqa: E402
    delete_cache_keys,
    delete_mongo_records,
    delete_queue,
    delete_records,
    open_fds,
    rss_kib,
    server_side_connections,
    wait_healthy,
)

RSS_GROWTH_LIMIT = 0.10
FD_TOLERANCE = 4  # a few sockets and files come and go
CONNECTION_TOLERANCE = 1
POOL_SIZE = 20  # the database plugins' default maximum
# redis-py's pools open connections on demand up to the load's peak concurrency and cannot
# be filled ahead (no minimum size); over four Redis servers that creep is a few
# connections, where a leak under this load grows by hundreds
CONNECTION_TOLERANCE_BY_BACKEND = {"redis": 3}


@dataclass(frozen=True)
class Request:
    label: str
    method: str
    path: str
    body: str | None = None


def mix(run: str) -> list[Request]:
    queue = f"{run}.soak"
    record = json.dumps({"key": f"{run}.rec", "value": {"soak": True, "tags": ["a", "b"]}})
    requests = [
        Request("GET /health/", "GET", "/health/"),
        Request("GET /health/all", "GET", "/health/all"),
        Request("GET /metrics", "GET", "/metrics"),
        Request("GET vault secret", "GET", "/examples/vault/secret/postgres"),
        Request("POST vault encrypt", "POST", "/examples/vault/transit/encrypt", json.dumps({"plaintext": "soak"})),
    ]
    for db in ("postgres", "mysql", "mongodb"):
        requests += [
            Request(f"GET {db} query", "GET", f"/examples/database/{db}/query"),
            Request(f"POST {db} record", "POST", f"/examples/database/{db}", record),
            Request(f"GET {db} records", "GET", f"/examples/database/{db}?limit=5"),
        ]
    requests += [
        Request("POST cache", "POST", "/examples/cache/soak-key?value=v&ttl=600"),
        Request("GET cache", "GET", "/examples/cache/soak-key"),
        Request("GET cache pattern", "GET", "/examples/cache/pattern/soak*?limit=10"),
        Request("GET cluster info", "GET", "/redis/cluster/info"),
        Request("POST publish", "POST", f"/examples/messaging/publish?queue_name={queue}", json.dumps({"soak": 1})),
        Request("POST consume", "POST", f"/examples/messaging/consume/{queue}?max=2"),
        Request("GET queue info", "GET", f"/examples/messaging/queue/{queue}/info"),
    ]
    return requests


def lua_mix(requests: list[Request]) -> str:
    """A wrk script sending the mix in turn (each thread from its own offset)."""
    entries = []
    for r in requests:
        headers = '{["Content-Type"] = "application/json"}' if r.body is not None else "{}"
        body = json.dumps(r.body) if r.body is not None else "nil"
        entries.append(f'wrk.format("{r.method}", {json.dumps(r.path)}, {headers}, {body})')
    # built in init(): wrk.format() needs the Host header wrk sets up after loading the script
    return (
        "local requests = {}\n"
        "local n = 0\n"
        "local counter = 0\n"
        "local threads = {}\n"
        "function setup(thread)\n"
        "  thread:set('id', counter)\n"
        "  counter = counter + 1\n"
        "  table.insert(threads, thread)\n"
        "end\n"
        "bad_count = 0\n"
        "bad_last = ''\n"
        "function response(status, headers, body)\n"
        "  if status < 200 or status > 299 then\n"
        "    bad_count = bad_count + 1\n"
        "    bad_last = status .. ' ' .. string.sub(body or '', 1, 300)\n"
        "  end\nend\n"
        "function init(args)\n  n = (id or 0) * 7\n  requests = {\n    " + ",\n    ".join(entries) + "\n  }\nend\n"
        "request = function()\n  n = n + 1\n  return requests[(n % #requests) + 1]\nend\n"
    )


LUA_BAD = """
local summary = done
done = function(s, latency, requests)
  summary(s, latency, requests)
  for _, thread in ipairs(threads) do
    local count = thread:get("bad_count")
    if count and count > 0 then
      io.write(string.format("WRK_BAD %d %s\\n", count, thread:get("bad_last")))
    end
  end
end
"""


@dataclass
class SampleRow:
    t: float
    rss_kib: int
    fds: int
    connections: dict[str, int]


@dataclass
class SoakResult:
    machine: str
    load: str
    seconds: float
    connections: int
    requests: int
    rps: float
    socket_errors: int
    non_2xx: int
    server_non_2xx: dict[str, int]
    warmup_s: float
    rss_start_kib: int
    rss_end_kib: int
    rss_max_kib: int
    rss_growth: float
    fds_start: int
    fds_end: int
    fds_max: int
    connections_start: dict[str, int]
    connections_end: dict[str, int]
    connections_max: dict[str, int]
    p50_ms: float | None = None
    p99_ms: float | None = None
    non_2xx_examples: list[str] = field(default_factory=list)
    samples: list[SampleRow] = field(default_factory=list)

    def window_max(self, part: str, metric: str) -> dict[str, int]:
        """Max of each value over the first or last third of the post-warm-up samples."""
        after = [row for row in self.samples if row.t >= self.warmup_s]
        third = max(1, len(after) // 3)
        rows = after[:third] if part == "first" else after[-third:]
        if metric == "fds":
            return {"fds": max(row.fds for row in rows)}
        names = {name for row in rows for name in row.connections}
        return {name: max(row.connections.get(name, 0) for row in rows) for name in names}

    def problems(self) -> list[str]:
        found = []
        if self.socket_errors or self.non_2xx or self.server_non_2xx:
            found.append(
                f"errors: {self.socket_errors} socket, {self.non_2xx} non-2xx, by route {self.server_non_2xx}, "
                f"last seen {self.non_2xx_examples}"
            )
        if self.rss_growth >= RSS_GROWTH_LIMIT:
            found.append(
                f"RSS grew {self.rss_growth:.1%} after warm-up ({self.rss_start_kib} -> {self.rss_end_kib} KiB)"
            )
        # flat: the last third of the measured window holds no more than the first third
        # (pools that fill up early are not a leak; a steady climb is)
        first, last = self.window_max("first", "fds")["fds"], self.window_max("last", "fds")["fds"]
        if last - first > FD_TOLERANCE:
            found.append(f"open fds grew: max {first} in the first third, {last} in the last")
        first_c, last_c = self.window_max("first", "connections"), self.window_max("last", "connections")
        for name in sorted(first_c):
            if last_c.get(name, 0) - first_c[name] > CONNECTION_TOLERANCE_BY_BACKEND.get(name, CONNECTION_TOLERANCE):
                found.append(
                    f"{name} connections grew: max {first_c[name]} in the first third, {last_c[name]} in the last"
                )
        if self.requests == 0:
            found.append("no request was made")
        return found

    def summary(self) -> str:
        first_c, last_c = self.window_max("first", "connections"), self.window_max("last", "connections")
        conns = ", ".join(
            f"{name} {self.connections_start[name]}->{self.connections_end.get(name)} "
            f"(thirds max {first_c.get(name)}/{last_c.get(name)})"
            for name in sorted(self.connections_start)
        )
        fds_thirds = f"{self.window_max('first', 'fds')['fds']}/{self.window_max('last', 'fds')['fds']}"
        latency = f"; p50 {self.p50_ms:.2f} ms, p99 {self.p99_ms:.2f} ms" if self.p50_ms is not None else ""
        return (
            f"soak ({self.load}): {self.seconds:.0f} s at {self.connections} connections, {self.requests} requests "
            f"({self.rps:,.0f} req/s{latency}); errors: {self.socket_errors} socket, {self.non_2xx} non-2xx, "
            f"server-counted non-2xx {sum(self.server_non_2xx.values())}; RSS after {self.warmup_s:.0f} s warm-up "
            f"{self.rss_start_kib} -> {self.rss_end_kib} KiB ({self.rss_growth:+.1%}, max {self.rss_max_kib}); "
            f"fds {self.fds_start} -> {self.fds_end} (thirds max {fds_thirds}); backend connections {conns}"
        )


def non_2xx_by_route(metrics: str) -> dict[str, int]:
    """Every non-2xx answer devstack counted (http_requests_total), by method, route, status."""
    counts: dict[str, int] = {}
    for line in metrics.splitlines():
        if not line.startswith("http_requests_total{"):
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', line[: line.rindex("}") + 1]))
        value = int(float(line.rsplit(" ", 1)[1]))
        status = labels.get("status", "")
        if value and not status.startswith("2"):
            counts[f"{labels.get('method')} {labels.get('endpoint')} {status}"] = value
    return counts


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as answer:
        return str(answer.read().decode())


class Sampler(threading.Thread):
    """Samples the process every ``every`` s; every ``prune_every`` s it also deletes the
    run's records so far, so that the data stays the size of a steady state (SecantusDB
    scans the whole collection on every list, whatever the limit: a collection that grows
    for ten minutes would measure the emulator, not devstack)."""

    def __init__(self, pid: int, every: float, run: str = "", prune_every: float = 60.0) -> None:
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.run_prefix, self.prune_every = run, prune_every
        self.rows: list[SampleRow] = []
        self.stop = threading.Event()
        self.started = time.monotonic()
        self.pruned = 0

    def take(self) -> None:
        self.rows.append(
            SampleRow(
                time.monotonic() - self.started,
                rss_kib(self.pid),
                open_fds(self.pid),
                server_side_connections(self.pid),
            )
        )

    def run(self) -> None:
        next_prune = time.monotonic() + self.prune_every
        while not self.stop.is_set():
            self.take()
            if self.run_prefix and time.monotonic() >= next_prune:
                self.pruned += delete_mongo_records(self.run_prefix)
                delete_records(self.run_prefix)
                next_prune = time.monotonic() + self.prune_every
            self.stop.wait(self.every)


def run_wrk(url: str, requests: list[Request], seconds: int, connections: int) -> dict[str, Any]:
    script = lua_mix(requests) + LUA_DONE + LUA_BAD
    data, stdout = run_wrk_script(script, url, connections=connections, duration=seconds)
    data["bad"] = [line[len("WRK_BAD ") :] for line in stdout.splitlines() if line.startswith("WRK_BAD ")]
    return data


def run_python_load(url: str, requests: list[Request], seconds: int, connections: int) -> dict[str, Any]:
    """The same mix from asyncio + httpx, when wrk is not installed."""
    import httpx

    latencies: list[float] = []
    counts = {"requests": 0, "non_2xx": 0, "socket_errors": 0}

    async def worker(client: httpx.AsyncClient, offset: int, deadline: float) -> None:
        n = offset
        while time.monotonic() < deadline:
            r = requests[n % len(requests)]
            n += 1
            started = time.monotonic()
            try:
                answer = await client.request(
                    r.method, r.path, content=r.body, headers={"Content-Type": "application/json"} if r.body else None
                )
                if not 200 <= answer.status_code < 300:
                    counts["non_2xx"] += 1
            except httpx.HTTPError:
                counts["socket_errors"] += 1
            counts["requests"] += 1
            latencies.append((time.monotonic() - started) * 1e6)

    async def main() -> None:
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        async with httpx.AsyncClient(base_url=url, timeout=10, limits=limits) as client:
            deadline = time.monotonic() + seconds
            await asyncio.gather(*(worker(client, i * 7, deadline) for i in range(connections)))

    started = time.monotonic()
    asyncio.run(main())
    ordered = sorted(latencies) or [0.0]
    return {
        **counts,
        "duration_us": (time.monotonic() - started) * 1e6,
        "p50_us": ordered[len(ordered) // 2],
        "p99_us": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
    }


def soak(
    seconds: int,
    connections: int,
    warmup: float | None = None,
    sample_every: float = 5.0,
    load: str = "auto",
    log: Any = print,
) -> SoakResult:
    if load == "auto":
        load = "wrk" if shutil.which("wrk") else "python"
    run = f"soak{uuid.uuid4().hex[:8]}"
    warmup = warmup if warmup is not None else max(10.0, seconds * 0.1)
    requests = mix(run)
    env = {
        "DEVSTACK_STRICT_PLUGINS": "1",
        "DEVSTACK_API_KEYS": "",
        "REDIS_EXAMPLES_PREFIX": f"{run}:",
        "REDIS_KEY_PREFIX": f"{run}-cache:",
        "RABBITMQ_CONNECTION_NAME": run,
        "POSTGRES_APPLICATION_NAME": run,
        # the pools open connections on demand up to their maximum (20) and keep them, so
        # under a steady load they creep up to the load's peak concurrency; opened at their
        # maximum from the start they are flat, and any connection beyond them is a leak
        **{
            f"{name}_{size}": str(POOL_SIZE)
            for name in ("POSTGRES", "MYSQL", "MONGODB")
            for size in ("POOL_MIN_SIZE", "POOL_MAX_SIZE")
        },
    }
    server: Server = devstack_server(env)
    server.ready_path = "/health/live"
    try:
        with server:
            assert server.process is not None
            wait_healthy(server.url)
            pid = server.process.pid
            for request in requests:  # every route answers once (the queue exists) before the load
                prime = urllib.request.Request(
                    server.url + request.path,
                    data=request.body.encode() if request.body is not None else None,
                    method=request.method,
                    headers={"Content-Type": "application/json"} if request.body is not None else {},
                )
                with urllib.request.urlopen(prime, timeout=30):
                    pass
            sampler = Sampler(pid, sample_every, run)
            sampler.start()
            log(f"{machine()}; {load} load, {connections} connections, {seconds} s (warm-up {warmup:.0f} s)")
            runner = run_wrk if load == "wrk" else run_python_load
            outcome = runner(server.url, requests, seconds, connections)
            sampler.stop.set()
            sampler.join()
            sampler.take()
            by_route = non_2xx_by_route(fetch(server.url + "/metrics"))
            alive = server.process.poll() is None
    finally:
        delete_queue(f"{run}.soak")
        delete_cache_keys(f"{run}:")
        delete_records(run)
        delete_mongo_records(run)
    if not alive:
        raise RuntimeError("devstack died during the soak")
    after = [row for row in sampler.rows if row.t >= warmup] or sampler.rows[-1:]
    first, last = after[0], sampler.rows[-1]
    names = sorted(first.connections)
    seconds_run = outcome["duration_us"] / 1e6
    return SoakResult(
        machine=machine(),
        load=load,
        seconds=seconds_run,
        connections=connections,
        requests=int(outcome["requests"]),
        rps=outcome["requests"] / seconds_run if seconds_run else 0.0,
        socket_errors=int(outcome["socket_errors"]),
        non_2xx=int(outcome["non_2xx"]),
        server_non_2xx=by_route,
        warmup_s=first.t,
        rss_start_kib=first.rss_kib,
        rss_end_kib=last.rss_kib,
        rss_max_kib=max(row.rss_kib for row in after),
        rss_growth=(last.rss_kib - first.rss_kib) / first.rss_kib,
        fds_start=first.fds,
        fds_end=last.fds,
        fds_max=max(row.fds for row in after),
        connections_start=first.connections,
        connections_end=last.connections,
        connections_max={name: max(row.connections.get(name, 0) for row in after) for name in names},
        p50_ms=outcome.get("p50_us", 0) / 1000 if "p50_us" in outcome else None,
        p99_ms=outcome.get("p99_us", 0) / 1000 if "p99_us" in outcome else None,
        non_2xx_examples=list(outcome.get("bad", [])),
        samples=sampler.rows,
    )


def stop_on_sigterm() -> None:
    """SIGTERM (a timeout, CI stopping) unwinds like Ctrl-C: the server is stopped and the
    run's data removed."""
    import signal

    def handler(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def main() -> int:
    stop_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--seconds", type=int, help="duration in seconds (overrides --minutes)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--warmup", type=float, help="seconds before the baseline sample (default 10 %%, >= 10 s)")
    parser.add_argument("--sample-every", type=float, default=5.0)
    parser.add_argument("--load", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--json", help="also write the result (with every sample) to this file")
    args = parser.parse_args()
    seconds = args.seconds or int(args.minutes * 60)
    result = soak(seconds, args.connections, args.warmup, args.sample_every, args.load)
    print(result.summary())
    if args.json:
        Path(args.json).write_text(json.dumps(asdict(result), indent=2))
    problems = result.problems()
    for problem in problems:
        print(f"FAIL: {problem}")
    print("PASS" if not problems else "FAIL")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
