"""The data-store routes under load, next to GET /health/ and next to a connection-per-request
variant of the same query, in one run.

Per data store: the reference query (GET …/query), storing a record (POST …) and listing
records (GET …?limit=20) on devstack's pooled plugin, and the same query served the
reference's way (db_per_request_app.py: Vault read with hvac and a new connection on
every request) on the same Hypercorn/uvloop stack.

Targets (issue: postgres and mysql plugins): every data-store route at least 0.6x the
req/s of devstack's GET /health/, and the pooled query at least 20x the
connection-per-request variant.

The records go to a database created for the run (``devstack_bench``, dropped at the end
unless ``--keep``), so the shared ``appdb`` is left alone. Needs a venv holding core, the
plugins measured and hvac (not the vault plugin: the plugins read their settings):

    uv venv .venv-bench-databases --python python3.11
    uv pip install --python .venv-bench-databases/bin/python -e core -e plugins/postgres -e plugins/mysql hvac
    .venv-bench-databases/bin/python bench/bench_databases.py [--duration 10] [--connections 32] [--rounds 2]

To add MongoDB: append a ``Store`` to STORES (and its ``create``/``drop`` of the bench
database), and a ``/examples/database/mongodb/query`` route to db_per_request_app.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import urllib.request
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import aiomysql
import asyncpg
from harness import BENCH_DIR, Result, Server, devstack_server, free_port, machine, print_table, services_env, wrk

BENCH_DATABASE = "devstack_bench"
HEALTH_RATIO_TARGET = 0.6
PER_REQUEST_RATIO_TARGET = 20.0

INSERT_REQUEST = """
math.randomseed(os.time() + os.clock() * 1000000)
request = function()
  local n = math.random(1, 1000000000)
  local body = string.format('{"key": "bench.%d", "value": {"n": %d, "tags": ["a", "b"], "ok": true}}', n, n)
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end
"""


async def create_postgres(env: dict[str, str]) -> None:
    conn = await asyncpg.connect(host=env["POSTGRES_HOST"], port=int(env["POSTGRES_PORT"]), user="postgres")
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)")
        await conn.execute(f'CREATE DATABASE {BENCH_DATABASE} OWNER "{env["POSTGRES_USER"]}"')
    finally:
        await conn.close()


async def drop_postgres(env: dict[str, str]) -> None:
    conn = await asyncpg.connect(host=env["POSTGRES_HOST"], port=int(env["POSTGRES_PORT"]), user="postgres")
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)")
    finally:
        await conn.close()


async def mysql_root(env: dict[str, str], *statements: str) -> None:
    conn = await aiomysql.connect(host=env["MYSQL_HOST"], port=int(env["MYSQL_PORT"]), user="root", password="")
    try:
        async with conn.cursor() as cursor:
            await cursor.execute("SET SESSION sql_notes = 0")  # no warning for IF [NOT] EXISTS
            for statement in statements:
                await cursor.execute(statement)
    finally:
        conn.close()


async def create_mysql(env: dict[str, str]) -> None:
    user = env["MYSQL_USER"]
    await mysql_root(
        env,
        f"DROP DATABASE IF EXISTS {BENCH_DATABASE}",
        f"CREATE DATABASE {BENCH_DATABASE} CHARACTER SET utf8mb4",
        f"GRANT ALL PRIVILEGES ON {BENCH_DATABASE}.* TO '{user}'@'127.0.0.1'",
        f"GRANT ALL PRIVILEGES ON {BENCH_DATABASE}.* TO '{user}'@'localhost'",
    )


async def drop_mysql(env: dict[str, str]) -> None:
    await mysql_root(env, f"DROP DATABASE IF EXISTS {BENCH_DATABASE}")


@dataclass(frozen=True)
class Store:
    """One data-store plugin: its health check name, route prefix and bench database."""

    name: str
    database_env: str
    create: Callable[[dict[str, str]], Coroutine[Any, Any, None]]
    drop: Callable[[dict[str, str]], Coroutine[Any, Any, None]]

    @property
    def prefix(self) -> str:
        return f"/examples/database/{self.name}"


STORES = [
    Store("postgres", "POSTGRES_DB", create_postgres, drop_postgres),
    Store("mysql", "MYSQL_DATABASE", create_mysql, drop_mysql),
    # Store("mongodb", "MONGODB_DATABASE", create_mongodb, drop_mongodb),
]


HEALTH = "devstack GET /health/"


def endpoints(base: str) -> list[tuple[str, str, str | None]]:
    """``(label, url, wrk request script)`` of GET /health/ and every data-store route."""
    found: list[tuple[str, str, str | None]] = [(HEALTH, base + "/health/", None)]
    for store in STORES:
        url = base + store.prefix
        found.append((f"GET {store.prefix}/query", url + "/query", None))
        found.append((f"POST {store.prefix}", url, INSERT_REQUEST))
        found.append((f"GET {store.prefix}?limit=20", url + "?limit=20", None))
    return found


def wait_healthy(server: Server, names: list[str], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    for name in names:
        while True:
            with urllib.request.urlopen(f"{server.url}/health/{name}", timeout=5) as answer:
                if json.load(answer)["status"] == "healthy":
                    break
            if time.monotonic() > deadline:
                raise SystemExit(f"/health/{name} not healthy after {timeout}s")
            time.sleep(0.2)


def merged(rounds: list[Result]) -> Result:
    """One endpoint's rounds as one result: requests and time summed, the worst latencies."""
    first = rounds[0]
    return Result(
        first.label,
        sum(r.requests for r in rounds),
        sum(r.seconds for r in rounds),
        max(r.p50_ms for r in rounds),
        max(r.p90_ms for r in rounds),
        max(r.p99_ms for r in rounds),
        sum(r.errors for r in rounds),
        sum(r.non_2xx for r in rounds),
    )


def per_request_server(env: dict[str, str]) -> Server:
    port = free_port()
    command = [sys.executable, "-m", "hypercorn", "--worker-class", "uvloop", "--bind", f"127.0.0.1:{port}"]
    return Server([*command, "db_per_request_app:app"], port, env, name="per-request", cwd=BENCH_DIR)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2, help="times every endpoint is measured, in turns")
    parser.add_argument("--log-level", default="WARNING", help="devstack's log level (INFO logs every request)")
    parser.add_argument("--keep", action="store_true", help=f"keep the {BENCH_DATABASE} databases")
    args = parser.parse_args()
    env = services_env()
    print(f"machine: {machine()}; wrk {args.connections} connections, {args.duration}s per endpoint")

    for store in STORES:
        asyncio.run(store.create(env))
    try:
        overrides = {store.database_env: BENCH_DATABASE for store in STORES}
        with devstack_server({**overrides, "DEVSTACK_LOG_LEVEL": args.log_level}) as server:
            wait_healthy(server, [store.name for store in STORES])
            # the endpoints take turns, round after round, so that the load other processes
            # put on the machine falls on all of them alike
            runs: dict[str, list[Result]] = {}
            for _ in range(args.rounds):
                for label, url, script in endpoints(server.url):
                    result = wrk(label, url, lua_request=script, connections=args.connections, duration=args.duration)
                    runs.setdefault(label, []).append(result)
        results = {label: merged(rounds) for label, rounds in runs.items()}
        with per_request_server(env) as baseline:
            per_request = {
                store.name: wrk(
                    f"per-request GET {store.prefix}/query",
                    baseline.url + store.prefix + "/query",
                    connections=args.connections,
                    duration=args.duration,
                )
                for store in STORES
            }
    finally:
        if not args.keep:
            for store in STORES:
                asyncio.run(store.drop(env))

    health = results.pop(HEALTH)
    print_table(
        [health, *results.values(), *per_request.values()], baseline=health, title="Data stores vs GET /health/"
    )
    print("\n### Targets\n")
    failures = 0
    for result in results.values():
        ratio = result.rps / health.rps
        ok = ratio >= HEALTH_RATIO_TARGET and result.errors == 0 and result.non_2xx == 0
        failures += not ok
        print(f"- {result.label}: {ratio:.2f}x GET /health/ (target {HEALTH_RATIO_TARGET}x) {'PASS' if ok else 'FAIL'}")
    for store in STORES:
        pooled, unpooled = results[f"GET {store.prefix}/query"], per_request[store.name]
        ratio = pooled.rps / unpooled.rps if unpooled.rps else float("inf")
        ok = ratio >= PER_REQUEST_RATIO_TARGET
        failures += not ok
        print(
            f"- {store.name} pooled query: {ratio:.1f}x the connection-per-request variant "
            f"(target {PER_REQUEST_RATIO_TARGET:.0f}x) {'PASS' if ok else 'FAIL'}"
        )
    print(f"\n{'all targets met' if not failures else f'{failures} target(s) missed'}")


if __name__ == "__main__":
    main()
