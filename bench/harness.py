"""Load-test harness shared by the bench scripts.

Starts servers (devstack with any environment, or a bare Quart route on the same
Hypercorn/uvloop or Granian/uvloop stack), drives them with wrk (Debian package ``wrk``), and prints req/s,
p50 and p99 per endpoint with ratios against a baseline measured in the same run.

    from harness import Server, bare_quart_server, devstack_server, wrk, print_table

Not a test: nothing here asserts a timing. Every script prints its table and the
command that reproduces it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.support import services_env as services_env  # noqa: E402  (the bench scripts import it from here)

LUA_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, '
    .. '"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    """A server process on 127.0.0.1:port, started by ``command``; stopped on exit."""

    def __init__(
        self,
        command: Sequence[str],
        port: int,
        env: Mapping[str, str] | None = None,
        ready_path: str = "/health/",
        name: str = "server",
        cwd: Path | None = None,
    ) -> None:
        self.command = list(command)
        self.port = port
        self.env = {**os.environ, **(env or {})}
        self.ready_path = ready_path
        self.name = name
        self.cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None
        self.log = tempfile.NamedTemporaryFile(prefix=f"bench-{name}-", suffix=".log", delete=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> Server:
        self.process = subprocess.Popen(
            self.command, env=self.env, stdout=self.log, stderr=subprocess.STDOUT, cwd=self.cwd
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited early; log: {self.log.name}")
            try:
                with urllib.request.urlopen(self.url + self.ready_path, timeout=1):
                    return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{self.name} not ready after {timeout}s; log: {self.log.name}")

    def stop(self, timeout: float = 20.0) -> bool:
        """SIGTERM, then SIGKILL after ``timeout`` seconds; whether it stopped by itself."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                return False
        return True

    def rss_kib(self) -> int:
        """Resident memory of the server process (KiB)."""
        assert self.process is not None
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def devstack_server(env: Mapping[str, str] | None = None, port: int | None = None, workers: int = 1) -> Server:
    """``devstack serve`` with the services' settings plus ``env`` (rate limits off by default)."""
    port = port or free_port()
    merged = {
        **services_env(),
        "DEVSTACK_PORT": str(port),
        "DEVSTACK_WORKERS": str(workers),
        "DEVSTACK_LOG_LEVEL": "WARNING",
        "DEVSTACK_RATE_LIMIT_ENABLED": "false",
        **(env or {}),
    }
    return Server([sys.executable, "-m", "devstack.cli", "serve"], port, merged, name="devstack")


def bare_quart_server(port: int | None = None, server: str = "hypercorn") -> Server:
    """One Quart route returning ``{"status": "ok"}`` on Hypercorn (or Granian) with
    uvloop: the ceiling."""
    port = port or free_port()
    command = [sys.executable, "-m", "hypercorn", "--worker-class", "uvloop", "--bind", f"127.0.0.1:{port}"]
    if server == "granian":
        command = [sys.executable, "-m", "granian", "--interface", "asgi", "--loop", "uvloop", "--port", str(port)]
        command += ["--host", "127.0.0.1", "--no-ws", "--log-level", "warning"]
    return Server([*command, "bare_app:app"], port, name=f"bare-quart-{server}", cwd=BENCH_DIR)


@dataclass
class Result:
    label: str
    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    errors: int
    non_2xx: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "label": self.label,
            "rps": round(self.rps, 1),
            "p50_ms": self.p50_ms,
            "p90_ms": self.p90_ms,
            "p99_ms": self.p99_ms,
            "requests": self.requests,
            "errors": self.errors,
            "non_2xx": self.non_2xx,
        }


def wrk(
    label: str,
    url: str,
    *,
    method: str = "GET",
    body: str | None = None,
    headers: Mapping[str, str] | None = None,
    connections: int = 32,
    duration: int = 10,
    threads: int = 2,
    warmup: int = 2,
    lua_request: str | None = None,
) -> Result:
    """Run wrk against ``url`` (after a short warm-up) and parse its summary.

    ``lua_request`` may define a wrk ``request = function() ... end`` for per-request
    bodies (e.g. unique keys).
    """
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    lines = [f'wrk.method = "{method}"']
    if body is not None:
        lines.append(f"wrk.body = {json.dumps(body)}")
    for key, value in (headers or {}).items():
        lines.append(f"wrk.headers[{json.dumps(key)}] = {json.dumps(value)}")
    script = "\n".join(lines) + "\n" + (lua_request or "") + LUA_DONE
    data, _ = run_wrk_script(script, url, connections=connections, duration=duration, threads=threads, warmup=warmup)
    return Result(
        label,
        data["requests"],
        data["duration_us"] / 1e6,
        data["p50_us"] / 1000,
        data["p90_us"] / 1000,
        data["p99_us"] / 1000,
        data["socket_errors"],
        data["non_2xx"],
    )


def run_wrk_script(
    script: str, url: str, *, connections: int, duration: int, threads: int = 2, warmup: int = 0
) -> tuple[dict[str, Any], str]:
    """Run wrk with the Lua ``script`` (which must end with ``LUA_DONE``) after an optional
    warm-up; the summary LUA_DONE prints (plus ``non_2xx`` and ``socket_errors``) and
    wrk's whole output."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        if warmup:
            subprocess.run(
                ["wrk", "-t1", "-c8", f"-d{warmup}s", "-s", handle.name, url], capture_output=True, check=False
            )
        completed = subprocess.run(
            ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "10s", "-s", handle.name, url],
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        os.unlink(handle.name)
    lines = completed.stdout.splitlines()
    marker = next((line for line in lines if line.startswith("WRK_JSON ")), None)
    if marker is None:
        raise RuntimeError(f"wrk gave no summary for {url}: {completed.stdout} {completed.stderr}")
    data: dict[str, Any] = json.loads(marker[len("WRK_JSON ") :])
    data["non_2xx"] = next((int(line.rsplit(":", 1)[1]) for line in lines if "Non-2xx or 3xx responses:" in line), 0)
    data["socket_errors"] = data["connect"] + data["read"] + data["write"] + data["timeout"]
    return data, completed.stdout


def print_table(results: Sequence[Result], baseline: Result | None = None, title: str = "") -> None:
    """Markdown table; ratios are against ``baseline`` (req/s up, p99 down is better)."""
    if title:
        print(f"\n### {title}\n")
    header = "| endpoint | req/s | p50 ms | p99 ms | errors | non-2xx |"
    rule = "|---|---:|---:|---:|---:|---:|"
    if baseline is not None:
        header += f" req/s vs {baseline.label} | p99 vs {baseline.label} |"
        rule += "---:|---:|"
    print(header)
    print(rule)
    for result in results:
        row = (
            f"| {result.label} | {result.rps:,.0f} | {result.p50_ms:.2f} | {result.p99_ms:.2f} | "
            f"{result.errors} | {result.non_2xx} |"
        )
        if baseline is not None:
            row += f" {result.rps / baseline.rps:.2f}x | {result.p99_ms / baseline.p99_ms:.2f}x |"
        print(row)
    sys.stdout.flush()


def machine() -> str:
    """One line about this machine, for the report."""
    cpu = "unknown cpu"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return f"{os.cpu_count()} cores, {cpu}, Python {sys.version.split()[0]}"
