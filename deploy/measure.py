"""What one ``devstack serve`` process with all six plugins uses, to size a Kubernetes pod.

Starts devstack as a pod runs it (one process, rate limits on and counted in the local
Redis, as with several replicas), then measures:

1. startup: seconds until ``/health/live`` and then ``/health/ready`` answer 200;
2. idle: RSS and CPU for ``--idle`` seconds, with only a readiness and a liveness probe
   every 10 s (what the kubelet sends);
3. under load, ``--load`` seconds each at ``--connections`` connections (wrk): the soak's
   endpoint mix (bench/soak.py: every plugin's reads and writes), then cheap reads (what
   one process serves when its CPU, not a backend, is the limit);
4. shutdown: SIGTERM while wrk is still sending, and the seconds until the process exits.

CPU is the process's user + system time over wall time (1000 m = one core busy), sampled
every second. Nothing here asserts a value: the figures go to deploy/README.md and, with
``--output``, to deploy/measured.json, which tests/test_deploy.py compares the manifests'
resources and grace periods with. Run it with the services of ``scripts/services.sh up``
and an environment holding every plugin (the contract tox env), wrk installed:

    set -a; . .run/devstack.env; set +a
    .tox/contract/bin/python deploy/measure.py --idle 30 --load 30 --connections 16 --output deploy/measured.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO))

from harness import Server, devstack_server, machine  # noqa: E402
from soak import Request, mix, run_wrk  # noqa: E402

from tests.support import delete_cache_keys, delete_mongo_records, delete_queue, delete_records, rss_kib  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")
PROBE_PERIOD = 10.0
MIB = 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the process (all its threads), seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14, 15)


def status_of(url: str) -> str:
    """``path status`` of one GET, whatever the status (the body too when not 200)."""
    path = "/" + url.split("/", 3)[3]
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return f"{path} {answer.status}"
    except urllib.error.HTTPError as error:
        return f"{path} {error.code} {error.read()[:200].decode(errors='replace')}"


@dataclass
class Window:
    """RSS and CPU of one phase, sampled every second."""

    name: str
    rss_kib: list[int] = field(default_factory=list)
    millicores: list[float] = field(default_factory=list)
    seconds: float = 0.0
    cpu_total: float = 0.0
    probes: list[str] = field(default_factory=list)
    rps: float | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def mean_millicores(self) -> float:
        return 1000 * self.cpu_total / self.seconds if self.seconds else 0.0

    def figures(self) -> dict[str, Any]:
        return {
            "seconds": round(self.seconds),
            "rss_mib_min": min(self.rss_kib) // MIB,
            "rss_mib_max": max(self.rss_kib) // MIB,
            "cpu_millicores_mean": round(self.mean_millicores),
            "cpu_millicores_highest_second": round(max(self.millicores)),
            "requests_per_second": None if self.rps is None else round(self.rps),
        }

    def line(self) -> str:
        rate = f"; {self.rps:,.0f} req/s, {len(self.errors)} kinds of error" if self.rps is not None else ""
        probes = f"; probes {', '.join(sorted(set(self.probes)))}" if self.probes else ""
        return (
            f"{self.name}: {self.seconds:.0f} s; RSS {min(self.rss_kib) // MIB}-{max(self.rss_kib) // MIB} MiB; "
            f"CPU mean {self.mean_millicores:.0f} m, highest 1-s sample {max(self.millicores):.0f} m{rate}{probes}"
        )


def sample(pid: int, window: Window, stop: threading.Event, probe_url: str | None = None) -> None:
    """Fill ``window`` every second until ``stop``; with ``probe_url`` (the base URL) also
    send the kubelet's two probes every PROBE_PERIOD seconds."""
    started = last_t = next_probe = time.monotonic()
    cpu_start = last_cpu = cpu_seconds(pid)
    while not stop.wait(1.0):
        if probe_url is not None and time.monotonic() >= next_probe:
            next_probe += PROBE_PERIOD
            window.probes += [status_of(probe_url + path) for path in ("/health/ready", "/health/live")]
        now, cpu = time.monotonic(), cpu_seconds(pid)
        window.rss_kib.append(rss_kib(pid))
        window.millicores.append(1000 * (cpu - last_cpu) / (now - last_t))
        last_t, last_cpu = now, cpu
    window.seconds, window.cpu_total = last_t - started, last_cpu - cpu_start


def idle(pid: int, url: str, seconds: int) -> Window:
    window, stop = Window("idle"), threading.Event()
    sampler = threading.Thread(target=sample, args=(pid, window, stop, url), daemon=True)
    sampler.start()
    time.sleep(seconds)
    stop.set()
    sampler.join()
    return window


def under_load(pid: int, url: str, name: str, requests: list[Request], seconds: int, connections: int) -> Window:
    window, stop = Window(name), threading.Event()
    sampler = threading.Thread(target=sample, args=(pid, window, stop), daemon=True)
    sampler.start()
    outcome = run_wrk(url, requests, seconds, connections)
    stop.set()
    sampler.join()
    window.rps = outcome["requests"] / (outcome["duration_us"] / 1e6)
    socket_errors = outcome["connect"] + outcome["read"] + outcome["timeout"]
    window.errors = [f"not 2xx: {bad}" for bad in outcome["bad"]]
    if socket_errors:
        window.errors.append(f"{socket_errors} socket errors")
    return window


def cheap_reads() -> list[Request]:
    """Reads that need little of a backend (Vault's answer is cached)."""
    return [
        Request("GET /health/live", "GET", "/health/live"),
        Request("GET /", "GET", "/"),
        Request("GET vault secret", "GET", "/examples/vault/secret/postgres"),
        Request("GET postgres query", "GET", "/examples/database/postgres/query"),
    ]


def prime(url: str, requests: list[Request]) -> None:
    """Publish once, so that the queue the mix consumes from exists before the load."""
    for request in requests:
        if request.method == "POST" and "/messaging/publish" in request.path:
            assert request.body is not None
            headers = {"Content-Type": "application/json"}
            sent = urllib.request.Request(url + request.path, request.body.encode(), headers, method="POST")
            with urllib.request.urlopen(sent, timeout=30):
                pass


def start(server: Server) -> dict[str, float]:
    """Start the server; seconds until it is live and until it is ready."""
    started = time.monotonic()
    server.start(timeout=60)
    live = time.monotonic() - started
    deadline = started + 120
    while status_of(server.url + "/health/ready") != "/health/ready 200":
        if time.monotonic() > deadline:
            raise RuntimeError(f"not ready after 120 s: {status_of(server.url + '/health/ready')}")
        time.sleep(0.1)
    return {"live_s": round(live, 2), "ready_s": round(time.monotonic() - started, 2)}


def sigterm_under_load(server: Server, requests: list[Request], connections: int) -> float:
    """SIGTERM 3 s into a wrk run; seconds from the signal until the process has exited."""
    assert server.process is not None
    load = threading.Thread(target=run_wrk, args=(server.url, requests, 8, connections), daemon=True)
    load.start()
    time.sleep(3.0)
    signalled = time.monotonic()
    server.process.terminate()
    server.process.wait(60)
    took = time.monotonic() - signalled
    load.join()
    if server.process.returncode != 0:
        raise RuntimeError(f"devstack exited with {server.process.returncode} after SIGTERM")
    return round(took, 2)


def server_env(run: str) -> dict[str, str]:
    """A pod's settings on the local services; names carry ``run`` so they can be removed."""
    redis = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0").rsplit("/", 1)[0]
    return {
        "DEVSTACK_STRICT_PLUGINS": "1",
        "DEVSTACK_API_KEYS": "",
        "DEVSTACK_RATE_LIMIT_ENABLED": "true",
        "DEVSTACK_RATE_LIMIT_STORAGE": f"{redis}/1",
        "DEVSTACK_RATE_LIMIT_KEY_PREFIX": f"{run}-ratelimit",
        # one wrk client must not be limited: the limiter's Redis round trip is what counts here
        **{f"DEVSTACK_RATE_LIMIT_{klass}": "10000000/minute" for klass in ("GENERAL", "HEALTH", "METRICS")},
        "REDIS_EXAMPLES_PREFIX": f"{run}:",
        "REDIS_KEY_PREFIX": f"{run}-cache:",
        "RABBITMQ_CONNECTION_NAME": run,
        "POSTGRES_APPLICATION_NAME": run,
    }


def measure(idle_seconds: int, load_seconds: int, connections: int) -> tuple[dict[str, Any], list[str]]:
    run = f"measure{uuid.uuid4().hex[:8]}"
    requests = mix(run)
    server = devstack_server(server_env(run))
    server.ready_path = "/health/live"
    try:
        startup = start(server)
        assert server.process is not None
        pid = server.process.pid
        after_start = rss_kib(pid) // MIB
        windows = [idle(pid, server.url, idle_seconds)]
        prime(server.url, requests)
        windows.append(under_load(pid, server.url, "soak mix", requests, load_seconds, connections))
        windows.append(under_load(pid, server.url, "cheap reads", cheap_reads(), load_seconds, connections))
        peak = rss_kib(pid, "VmHWM") // MIB
        sigterm_s = sigterm_under_load(server, requests, connections)
    finally:
        server.stop()
        delete_queue(f"{run}.soak")
        delete_cache_keys(f"{run}:")
        delete_records(run)
        delete_mongo_records(run)
    figures = {
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join(["deploy/measure.py", *sys.argv[1:]]),
        "machine": machine(),
        "load_average_1m_at_end": round(os.getloadavg()[0], 2),
        "connections": connections,
        "startup": startup,
        "rss_mib_after_startup": after_start,
        "phases": {window.name: window.figures() for window in windows},
        "peak_rss_mib": peak,
        "sigterm_to_exit_under_load_s": sigterm_s,
    }
    lines = [figures["machine"], f"startup: live after {startup['live_s']} s, ready after {startup['ready_s']} s"]
    lines += [window.line() for window in windows]
    lines += [f"  {error}" for window in windows for error in window.errors]
    lines += [f"peak RSS (VmHWM) {peak} MiB; SIGTERM under load -> exit 0 after {sigterm_s} s"]
    return figures, lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--idle", type=int, default=30, help="seconds idle (probes only)")
    parser.add_argument("--load", type=int, default=30, help="seconds under each load")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--output", help="write the figures to this JSON file")
    args = parser.parse_args()
    figures, lines = measure(args.idle, args.load, args.connections)
    print("\n".join(lines))
    if args.output:
        Path(args.output).write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
