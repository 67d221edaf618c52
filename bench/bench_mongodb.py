"""The MongoDB plugin under load, next to GET /health/ and next to a client-per-request
variant of the same query, in one run.

On devstack with the mongodb plugin: GET /health/, the reference query (GET …/query),
storing a record (POST …) and listing records (GET …?limit=20). Then the same query
served the reference's way (mongodb_per_request_app.py: a Vault read with hvac and a new
MongoDB client on every request), on the same Hypercorn/uvloop stack.

Targets (issue: mongodb plugin): every data-store route reaches at least 0.6x the req/s
of devstack's GET /health/, and the pooled query at least 20x the client-per-request
variant.

The server's own ceiling is measured too: the same operations sent straight from
pymongo's AsyncMongoClient (the same number of concurrent callers, no HTTP). It shows
how much of a route's rate SecantusDB itself allows on this machine.

The records go to a collection made for the run (``bench_records_<hex>`` in the shared
database, dropped at the end unless ``--keep``), so the plugin's own collection is not
touched. Every round starts from ``--seed`` records (stored through the API). The list
is measured before the inserts of that round, and the collection is emptied after them,
so the list always reads a collection of the same size: SecantusDB's find and count
scan the whole collection whatever the index and limit, so their cost grows with it.

By default the shared SecantusDB of ``scripts/services.sh`` (127.0.0.1:27017) is measured,
in whatever state other users left it. ``--private`` starts a fresh SecantusDB of the
bench's own instead: on a free port, in the shared one's mode (oplog on) and with
authentication, its user provisioned with the password of ``.run/devstack.env``, which
is also Vault's. It is stopped and deleted at the end.

Needs a venv with core, the mongodb plugin and hvac, wrk, and the services of
``scripts/services.sh up``:

    uv venv .venv-mongodb --python python3.11
    uv pip install --python .venv-mongodb/bin/python -e core -e plugins/mongodb hvac
    .venv-mongodb/bin/python bench/bench_mongodb.py [--duration 10] [--connections 32] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness import (
    BENCH_DIR,
    REPO,
    Result,
    Server,
    devstack_server,
    free_port,
    machine,
    print_table,
    services_env,
    wrk,
)
from pymongo import DESCENDING, AsyncMongoClient, MongoClient

HEALTH_RATIO_TARGET = 0.6
PER_REQUEST_RATIO_TARGET = 20.0
PREFIX = "/examples/database/mongodb"
HEALTH = "devstack GET /health/"
QUERY = f"GET {PREFIX}/query"

INSERT_REQUEST = """
math.randomseed(os.time() + os.clock() * 1000000)
request = function()
  local n = math.random(1, 1000000000)
  local body = string.format('{"key": "bench.%d", "value": {"n": %d, "tags": ["a", "b"], "ok": true}}', n, n)
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end
"""


def endpoints(base: str) -> list[tuple[str, str, dict[str, Any]]]:
    """``(label, url, wrk options)`` of GET /health/ and the plugin's routes (inserts last)."""
    url = base + PREFIX
    return [
        (HEALTH, base + "/health/", {}),
        (QUERY, url + "/query", {}),
        (f"GET {PREFIX}?limit=20", url + "?limit=20", {}),
        (f"POST {PREFIX}", url, {"lua_request": INSERT_REQUEST}),
    ]


def seed(server: Server, count: int) -> None:
    """Store ``count`` records through the API."""
    for n in range(count):
        body = json.dumps({"key": f"seed.{n}", "value": {"n": n, "tags": ["a", "b"], "ok": True}}).encode()
        request = urllib.request.Request(
            server.url + PREFIX, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            if answer.status != 201:
                raise SystemExit(f"seeding failed: {answer.status}")


def admin_client(env: dict[str, str]) -> MongoClient[dict[str, Any]]:
    return MongoClient(
        env["MONGODB_HOST"],
        int(env["MONGODB_PORT"]),
        username=env.get("MONGODB_USER") or None,
        password=env.get("MONGODB_PASSWORD") or None,
        authSource=env["MONGODB_DATABASE"],
        serverSelectionTimeoutMS=5000,
    )


def empty_collection(env: dict[str, str], name: str) -> None:
    with admin_client(env) as client:
        client[env["MONGODB_DATABASE"]][name].delete_many({})


def percentile(latencies: list[float], q: float) -> float:
    """The ``q`` quantile of sorted latencies (seconds), in milliseconds."""
    return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else 0.0


async def drive(label: str, operation: Callable[[], Awaitable[Any]], concurrency: int, duration: float) -> Result:
    """``concurrency`` callers repeating ``operation`` for ``duration`` seconds."""
    latencies: list[float] = []
    deadline = time.monotonic() + duration

    async def caller() -> None:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            await operation()
            latencies.append(time.perf_counter() - started)

    started = time.monotonic()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    elapsed = time.monotonic() - started
    latencies.sort()
    p50, p90, p99 = (percentile(latencies, q) for q in (0.5, 0.9, 0.99))
    return Result(label, len(latencies), elapsed, p50, p90, p99, 0, 0)


async def ceiling(env: dict[str, str], collection: str, concurrency: int, duration: float) -> list[Result]:
    """The server's own rate for the routes' operations: pymongo straight, no HTTP."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        env["MONGODB_HOST"],
        int(env["MONGODB_PORT"]),
        username=env.get("MONGODB_USER") or None,
        password=env.get("MONGODB_PASSWORD") or None,
        authSource=env["MONGODB_DATABASE"],
        minPoolSize=5,
        maxPoolSize=20,
    )
    database = client[env["MONGODB_DATABASE"]]
    records = database[collection]

    async def list_page() -> None:
        cursor = records.find({}).sort([("created_at", DESCENDING), ("_id", DESCENDING)]).limit(20)
        await asyncio.gather(cursor.to_list(), records.estimated_document_count())

    async def insert() -> None:
        await records.insert_one({"key": "bench", "value_json": '{"n": 1}', "created_at": datetime.now(UTC)})

    operations: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
        ("server ceiling: listCollections", database.list_collection_names),
        ("server ceiling: find 20 + count", list_page),
        ("server ceiling: insert_one", insert),
    ]
    try:
        results = [await drive(label, operation, concurrency, duration) for label, operation in operations]
    finally:
        await client.close()
    return results


def wait_healthy(server: Server, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with urllib.request.urlopen(f"{server.url}/health/mongodb", timeout=10) as answer:
            if json.load(answer)["status"] == "healthy":
                return
        if time.monotonic() > deadline:
            raise SystemExit(f"/health/mongodb not healthy after {timeout}s")
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
    return Server([*command, "mongodb_per_request_app:app"], port, env, name="per-request", cwd=BENCH_DIR)


def drop_collection(env: dict[str, str], name: str) -> None:
    with admin_client(env) as client:
        client[env["MONGODB_DATABASE"]].drop_collection(name)


class PrivateSecantus:
    """A fresh SecantusDB with the shared one's user and password, for ``--private``."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.port = free_port()
        self.workdir = Path(tempfile.mkdtemp(prefix="bench-secantus-"))
        (self.workdir / "secantusd.toml").write_text("# empty\n")
        self.process: subprocess.Popen[bytes] | None = None

    def _start(self, *extra: str) -> None:
        command = [
            str(REPO / ".services-venv" / "bin" / "secantusd-py"),
            "--config",
            str(self.workdir / "secantusd.toml"),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--storage-path",
            str(self.workdir / "data"),
            "--log-level",
            "WARNING",
            *extra,
        ]
        with (self.workdir / "secantusd.log").open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        client: MongoClient[dict[str, Any]] = MongoClient("127.0.0.1", self.port, serverSelectionTimeoutMS=30000)
        with client:
            client.admin.command("ping")

    def _stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> PrivateSecantus:
        self._start()
        user, database = self.env["MONGODB_USER"], self.env["MONGODB_DATABASE"]
        roles = [{"role": "dbOwner", "db": database}, {"role": "clusterMonitor", "db": "admin"}]
        client: MongoClient[dict[str, Any]] = MongoClient("127.0.0.1", self.port, serverSelectionTimeoutMS=5000)
        with client:
            for source in (database, "admin"):
                client[source].command("createUser", user, pwd=self.env["MONGODB_PASSWORD"], roles=roles)
        self._stop()
        self._start("--auth")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2, help="times every endpoint is measured, in turns")
    parser.add_argument("--log-level", default="WARNING", help="devstack's log level (INFO logs every request)")
    parser.add_argument("--seed", type=int, default=200, help="records in the collection when the list is measured")
    parser.add_argument("--keep", action="store_true", help="keep the bench collection")
    parser.add_argument("--private", action="store_true", help="measure a fresh SecantusDB of the bench's own")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        env = services_env()
        if args.private:
            private = stack.enter_context(PrivateSecantus(env))
            env["MONGODB_PORT"] = str(private.port)
        run(args, env)


def run(args: argparse.Namespace, env: dict[str, str]) -> None:
    """Measure, print the table and the verdicts."""
    load: dict[str, Any] = {"connections": args.connections, "duration": args.duration}
    collection = f"bench_records_{uuid.uuid4().hex[:8]}"
    where = "a private SecantusDB" if args.private else "the shared SecantusDB"
    print(f"machine: {machine()}; wrk {args.connections} connections, {args.duration}s per endpoint; {where}")

    try:
        settings = {
            "DEVSTACK_PLUGINS": "mongodb",
            "MONGODB_PORT": env["MONGODB_PORT"],
            "MONGODB_COLLECTION": collection,
            "DEVSTACK_LOG_LEVEL": args.log_level,
        }
        with devstack_server(settings) as server:
            wait_healthy(server)
            # the endpoints take turns, round after round, so that the load other processes
            # put on the machine falls on all of them alike
            runs: dict[str, list[Result]] = {}
            for _ in range(args.rounds):
                seed(server, args.seed)
                for label, url, extra in endpoints(server.url):
                    runs.setdefault(label, []).append(wrk(label, url, **extra, **load))
                empty_collection(env, collection)
        results = {label: merged(rounds) for label, rounds in runs.items()}
        with per_request_server(env) as reference:
            per_request = wrk(f"per-request {QUERY}", reference.url + PREFIX + "/query", **load)
        with devstack_server(settings) as server:  # the same records for the ceiling's find
            wait_healthy(server)
            seed(server, args.seed)
        server_ceiling = asyncio.run(ceiling(env, collection, args.connections, args.duration))
    finally:
        if not args.keep:
            drop_collection(env, collection)

    health = results.pop(HEALTH)
    print_table(
        [health, *results.values(), per_request, *server_ceiling],
        baseline=health,
        title=f"MongoDB plugin vs GET /health/ (list read at {args.seed} records)",
    )
    print("\n### Targets\n")
    failures = 0
    for result in results.values():
        ratio = result.rps / health.rps
        ok = ratio >= HEALTH_RATIO_TARGET and result.errors == 0 and result.non_2xx == 0
        failures += not ok
        print(f"- {result.label}: {ratio:.2f}x GET /health/ (target {HEALTH_RATIO_TARGET}x) {'PASS' if ok else 'FAIL'}")
    ratio = results[QUERY].rps / per_request.rps if per_request.rps else float("inf")
    ok = ratio >= PER_REQUEST_RATIO_TARGET
    failures += not ok
    print(
        f"- pooled query: {ratio:.1f}x the client-per-request variant "
        f"({per_request.rps:.1f} req/s, {per_request.non_2xx} non-2xx; "
        f"target {PER_REQUEST_RATIO_TARGET:.0f}x) {'PASS' if ok else 'FAIL'}"
    )
    print(f"\n{'all targets met' if not failures else f'{failures} target(s) missed'}")


if __name__ == "__main__":
    main()
