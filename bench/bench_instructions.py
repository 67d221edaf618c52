"""The targets of bench_servers.py counted in CPU instructions instead of req/s.

req/s on a shared two-core machine moves by up to 2x between minutes, so a 0.8x target
cannot be told from noise there. Instructions executed per request can: this script runs
each server process under valgrind's cachegrind (``--cache-sim=no``, children traced, so
Hypercorn's and Granian's worker processes count too) and sends it a fixed sequence of
requests over one keep-alive connection:

- a *baseline* run per server process: start, the same warm-up (``--warmup`` requests of
  every route that process serves), stop;
- a *measured* run per route: the same, then ``--requests`` requests of that route.

The difference between the two runs' instruction totals, divided by ``--requests``, is what
one request of that route costs in user space, server and application together (the
kernel's share, the socket calls, is not counted). Two runs of the same command agree to
within about 0.5% here (most often to 0.01%), whatever else the machine is doing, where
req/s moves by up to 2x; a route that waits for a backend varies most, since how often
the event loop wakes depends on when the answer arrives. The ratio of
two routes' costs, the inverse of their instructions, is the req/s ratio a server bound by
its own CPU would show: the same targets as bench_servers.py (0.8x of the bare route for
GET /health/ and GET /, 0.7x of GET /health/ for the backend routes), met or missed.

What it leaves out: requests arrive one at a time, so the batching a loaded server gets
(several requests per event-loop iteration, one log write for all their lines) is not in
these figures; time spent waiting for a backend is not CPU and is not counted either.

Needs valgrind (Debian package ``valgrind``); each run takes about a minute (Python runs
some 50x slower under valgrind); ``--parallel`` runs go at once (one per core).

    python bench/bench_instructions.py [--requests 1000] [--warmup 50] [--parallel 2] [--output FILE]

Not a test: nothing asserts a count.
"""

from __future__ import annotations

import argparse
import http.client
import re
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from bench_core import HEADERS
from bench_servers import SERVERS, TARGETS, Target, devstack_on, judged, publish, write_cache_key
from harness import Server, bare_quart_server, machine

SUMMARY = re.compile(r"^summary: (\d+)", re.MULTILINE)
START_TIMEOUT = 600.0  # seconds: devstack with six plugins starts in about a minute under valgrind
STOP_TIMEOUT = 300.0  # a killed process writes no counts, so its graceful stop is awaited


@dataclass(frozen=True)
class Run:
    """One server process under valgrind: which server, bare or devstack, which route measured."""

    server: str
    which: str
    measured: Target | None  # None: the baseline run (warm-up only)


def routes_of(which: str) -> list[Target]:
    return [target for target in TARGETS if target.which == which]


def instrumented(which: str, server: str, out_dir: Path) -> Server:
    process = bare_quart_server(server=server) if which == "bare" else devstack_on(server)
    process.env["PYTHONHASHSEED"] = "0"  # the same dict layouts, so the same instructions, run to run
    valgrind = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--trace-children=yes", "--log-file=/dev/null"]
    process.command = [*valgrind, f"--cachegrind-out-file={out_dir}/counts.%p", *process.command]
    return process


def send(connection: http.client.HTTPConnection, target: Target, times: int) -> None:
    headers = HEADERS if target.which == "devstack" else {}
    for _ in range(times):
        connection.request("GET", target.path, headers=headers)
        answer = connection.getresponse()
        answer.read()
        if answer.status != 200:
            raise SystemExit(f"GET {target.path} answered {answer.status} during the count")


def instructions(run: Run, requests: int, warmup: int) -> int:
    """The instructions of every process of one run, from start to a graceful stop."""
    out_dir = Path(tempfile.mkdtemp(prefix="bench-instructions-"))
    try:
        process = instrumented(run.which, run.server, out_dir)
        process.start(timeout=START_TIMEOUT)
        try:
            if run.which == "devstack":
                write_cache_key(process.url)
            connection = http.client.HTTPConnection("127.0.0.1", process.port, timeout=120)
            for target in routes_of(run.which):
                send(connection, target, warmup)
            if run.measured is not None:
                send(connection, run.measured, requests)
            connection.close()
        finally:
            if not process.stop(timeout=STOP_TIMEOUT):
                raise SystemExit(
                    f"{process.name} did not stop within {STOP_TIMEOUT:.0f}s: a killed process writes no counts"
                )
        totals = [SUMMARY.search(path.read_text()) for path in out_dir.glob("counts.*")]
        if not totals or None in totals:
            raise SystemExit(f"{run}: valgrind wrote no complete counts in {out_dir}")
        return sum(int(match.group(1)) for match in totals if match is not None)
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)


def per_request(requests: int, warmup: int, parallel: int) -> dict[tuple[str, str], float]:
    """Instructions per request of every target on every server."""
    runs = [
        Run(server, which, measured)
        for server in SERVERS
        for which in ("bare", "devstack")
        for measured in (None, *routes_of(which))
    ]
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        totals = dict(zip(runs, pool.map(lambda run: instructions(run, requests, warmup), runs), strict=True))
    return {
        (run.server, run.measured.label): (total - totals[Run(run.server, run.which, None)]) / requests
        for run, total in totals.items()
        if run.measured is not None
    }


def report(costs: dict[tuple[str, str], float]) -> list[str]:
    lines = [
        "| route | server | instructions/request | ratio | target | |",
        "|---|---|---:|---|---:|---|",
    ]
    # three digits: 0.697x is missed, and the counts are that exact
    for server, target, cost, (ratio, goal, verdict) in judged(costs, digits=3, cost=True):
        lines.append(f"| {target.label} | {server} | {cost:,.0f} | {ratio} | {goal} | {verdict} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1000, help="requests counted per route")
    parser.add_argument("--warmup", type=int, default=50, help="requests of every route before the count")
    parser.add_argument("--parallel", type=int, default=2, help="runs at once (one per core)")
    parser.add_argument("--output", type=Path, help="also write the table (markdown) here")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (Debian package valgrind)")
    costs = per_request(args.requests, args.warmup, args.parallel)
    header = (
        f"{machine()}; user-space instructions per request (cachegrind), {args.requests} sequential requests "
        f"per route over one keep-alive connection after {args.warmup} of every route; every feature on, "
        "JSON access log at INFO"
    )
    publish(header, report(costs), args.output)


if __name__ == "__main__":
    main()
