"""Where a MySQL query's client time goes: aiomysql (pure Python, the mysql plugin's
driver) against asyncmy (Cython), on the same MariaDB, the same event loop, in one run.

For each driver: the mysql plugin's query (``SELECT NOW()``) on one connection, one at a
time (the driver alone), then through the driver's pool with ``--concurrency`` tasks
(driver, pool and event loop together, as a request sees them). Reported per query: the
client process's CPU time (what the server's one core pays per query) and the wall time;
with ``--profile`` the functions that take the most of aiomysql's and asyncmy's time.
The drivers are measured in interleaved rounds, the best round shown.

    .venv/bin/python bench/bench_mysql_driver.py [--queries 5000] [--concurrency 32] [--rounds 3]
        [--host 127.0.0.1] [--port 3306] [--user root] [--password ""] [--profile]

Needs aiomysql, asyncmy and uvloop in the environment and a reachable MySQL/MariaDB.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiomysql
import asyncmy
import uvloop

QUERY = "SELECT NOW()"  # the mysql plugin's GET /examples/database/mysql/query


@dataclass
class Figure:
    cpu_us: float
    wall_us: float


async def timed(queries: int, work: Callable[[], Awaitable[None]]) -> Figure:
    cpu, wall = time.process_time(), time.perf_counter()
    await work()
    return Figure((time.process_time() - cpu) / queries * 1e6, (time.perf_counter() - wall) / queries * 1e6)


async def one_connection(module: Any, options: dict[str, Any], queries: int) -> Figure:
    conn = await module.connect(**options)
    try:

        async def work() -> None:
            for _ in range(queries):
                async with conn.cursor() as cursor:
                    await cursor.execute(QUERY)
                    await cursor.fetchone()

        return await timed(queries, work)
    finally:
        conn.close()


async def pooled(module: Any, options: dict[str, Any], queries: int, concurrency: int) -> Figure:
    pool = await module.create_pool(minsize=10, maxsize=10, **options)
    try:

        async def worker(count: int) -> None:
            for _ in range(count):
                async with pool.acquire() as conn, conn.cursor() as cursor:
                    await cursor.execute(QUERY)
                    await cursor.fetchone()

        async def work() -> None:
            await asyncio.gather(*(worker(queries // concurrency) for _ in range(concurrency)))

        return await timed(queries // concurrency * concurrency, work)
    finally:
        pool.close()
        await pool.wait_closed()


def profile_of(module: Any, options: dict[str, Any], queries: int, concurrency: int) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    uvloop.run(pooled(module, options, queries, concurrency))
    profiler.disable()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(12)
    return text.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queries", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3306)
    parser.add_argument("--user", default="root")
    parser.add_argument("--password", default="")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    options = {"host": args.host, "port": args.port, "user": args.user, "password": args.password, "autocommit": True}
    drivers = {"aiomysql": aiomysql, "asyncmy": asyncmy}
    best: dict[tuple[str, str], Figure] = {}
    for _ in range(args.rounds):
        for name, module in drivers.items():
            runs = {
                "one connection, one query at a time": one_connection(module, options, args.queries),
                f"pool of 10, {args.concurrency} tasks": pooled(module, options, args.queries, args.concurrency),
            }
            for shape, run in runs.items():
                figure = uvloop.run(run)
                known = best.get((name, shape))
                if known is None or figure.cpu_us < known.cpu_us:
                    best[(name, shape)] = figure
    print(f"{QUERY} on {args.host}:{args.port}, {args.queries} queries per run, uvloop, best of {args.rounds} rounds\n")
    print("| driver | shape | client CPU µs/query | wall µs/query | CPU vs aiomysql |")
    print("|---|---|---:|---:|---:|")
    for (name, shape), figure in sorted(best.items(), key=lambda item: (item[0][1], item[0][0])):
        base = best[("aiomysql", shape)]
        print(f"| {name} | {shape} | {figure.cpu_us:.0f} | {figure.wall_us:.0f} | {figure.cpu_us / base.cpu_us:.2f}x |")
    if args.profile:
        for name, module in drivers.items():
            print(f"\n### {name}: top functions by own time (pool, {args.concurrency} tasks)\n")
            print(profile_of(module, options, args.queries, args.concurrency))


if __name__ == "__main__":
    main()
