"""The parts of the multi-instance test: devstack instances, HAProxy in front, Prometheus.

Everything is a real program started here with its own configuration in a temporary
directory and its own free ports, and stopped at the end: ``devstack serve`` (all six
plugins, the local backends), Debian's ``haproxy`` and ``prometheus``
(``scripts/install-scale-tools.sh`` installs them).
"""

from __future__ import annotations

import csv
import http.client
import io
import re
import shutil
import signal
import subprocess
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from devstack.testing import ServerProcess, free_port

# HAProxy checks GET /health/ready every CHECK_INTERVAL seconds; one failed check takes a
# server out, RISE passed checks put it back.
CHECK_INTERVAL = 0.5
FALL = 1
RISE = 2
# How long a stopping instance keeps serving while /health/ready already answers 503
# (DEVSTACK_SHUTDOWN_DELAY): HAProxy notices within CHECK_INTERVAL * FALL (plus the
# check's own duration), then sends it nothing new.
SHUTDOWN_DELAY = 2.0
BACKEND = "devstack"
HOST_HEADER = "localhost"  # an allowed Host (DEVSTACK_ALLOWED_HOSTS) for checks and clients


def program(name: str) -> str:
    """The path of a program the test needs; a clear failure (not a skip) when missing."""
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: run scripts/install-scale-tools.sh (as root)")
    return found


def http_status(port: int, path: str, timeout: float = 5.0) -> int:
    """Status of ``GET path`` on 127.0.0.1:port; 0 when nothing answers."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"Host": HOST_HEADER})
        answer = connection.getresponse()
        answer.read()
        return answer.status
    except OSError:
        return 0
    finally:
        connection.close()


def wait_until(condition: Any, timeout: float, what: str, interval: float = 0.05) -> float:
    """Poll ``condition()`` until true; the seconds it took. Fails after ``timeout``."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what}: not within {timeout}s")
        time.sleep(interval)
    return time.monotonic() - started


class Instance:
    """One ``devstack serve`` process on its own port (kept across restarts)."""

    def __init__(self, name: str, env: dict[str, str]) -> None:
        self.name = name
        self.server = ServerProcess(env=env)

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def url(self) -> str:
        return self.server.url

    def start(self, timeout: float = 120.0) -> Instance:
        self.server.start(timeout=timeout)
        self.wait_ready(timeout)
        return self

    def ready(self) -> bool:
        return http_status(self.port, "/health/ready") == 200

    def wait_ready(self, timeout: float = 60.0) -> float:
        return wait_until(self.ready, timeout, f"{self.name} ready", interval=0.1)

    def signal(self, signum: signal.Signals) -> None:
        assert self.server.process is not None
        self.server.process.send_signal(signum)

    def wait_exit(self, timeout: float = 30.0) -> int:
        assert self.server.process is not None
        return self.server.process.wait(timeout)

    def log(self) -> str:
        return self.server.log()

    def stop(self) -> None:
        self.server.stop()


def start_all(instances: list[Instance]) -> None:
    """Start the instances side by side (plugin start-up is mostly waiting on backends)."""
    with ThreadPoolExecutor(len(instances)) as pool:
        for started in pool.map(lambda instance: instance.start(), instances):
            assert started.ready()


LOG_LINE = re.compile(
    r"^rid=\{(?P<rid>[^}]*)\} server=(?P<server>\S+) status=(?P<status>-?\d+) term=(?P<term>\S+)"
    r" retries=(?P<retries>[+-]?\d+)",
    re.M,
)


@dataclass(frozen=True)
class Routed:
    """One request in HAProxy's log: the server it went to last, the status it answered
    (-1: none), HAProxy's termination state (``--`` normal, ``SH`` server closed...) and
    its retries (a connection refused before the request was sent: tried again, the
    last time on another server)."""

    server: str
    status: int
    termination: str
    retries: int = 0


class HAProxy:
    """HAProxy in front of the instances: round robin, ready checks, retries, redispatch."""

    def __init__(self, directory: Path, instances: list[Instance]) -> None:
        self.directory = directory
        self.instances = instances
        self.port = free_port()
        self.stats_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def config(self) -> str:
        servers = "\n".join(
            f"    server {instance.name} 127.0.0.1:{instance.port} check" for instance in self.instances
        )
        interval_ms = int(CHECK_INTERVAL * 1000)
        return f"""\
global
    maxconn 4096
    log stdout format raw local0

defaults
    mode http
    log global
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    timeout check 2s
    # a refused connection (an instance that stopped listening, or died) is retried,
    # the last attempts on another server; nothing else is replayed
    retries 3
    option redispatch 1
    retry-on conn-failure
    # a connection per request towards the instances: with idle ones kept, a request sent
    # on one the instance closes at that moment (its 5 s keep-alive) is not answered;
    # HAProxy then closes the client's connection for the client to retry, which a
    # client that does not retry reports as an error
    option http-server-close

frontend api
    bind 127.0.0.1:{self.port}
    # the client is the address HAProxy sees: what a client writes itself is dropped
    http-request del-header X-Forwarded-For
    option forwardfor
    # one line per request: which server had it, and how it ended (request_log())
    capture request header X-Request-ID len 64
    log-format "rid=%hr server=%s status=%ST term=%ts retries=%rc"
    default_backend {BACKEND}

frontend stats
    bind 127.0.0.1:{self.stats_port}
    no log
    stats enable
    stats uri /stats

backend {BACKEND}
    balance roundrobin
    option httpchk
    http-check send meth GET uri /health/ready ver HTTP/1.1 hdr Host {HOST_HEADER}
    http-check expect status 200
    default-server inter {interval_ms}ms fall {FALL} rise {RISE}
    http-after-response set-header X-Served-By %s
{servers}
"""

    def start(self) -> HAProxy:
        path = self.directory / "haproxy.cfg"
        path.write_text(self.config())
        haproxy = program("haproxy")
        subprocess.run([haproxy, "-c", "-q", "-f", str(path)], check=True)
        log = (self.directory / "haproxy.log").open("wb")
        self.process = subprocess.Popen([haproxy, "-db", "-f", str(path)], stdout=log, stderr=subprocess.STDOUT)
        names = [instance.name for instance in self.instances]
        wait_until(
            lambda: running(self.process, "haproxy", log) and all(self.state(name) == "UP" for name in names),
            30,
            f"HAProxy sees {names} UP",
        )
        return self

    def stats(self) -> dict[str, dict[str, str]]:
        """The backend's server rows of HAProxy's CSV statistics, by server name."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.stats_port}/stats;csv", timeout=5) as answer:
                text = answer.read().decode()
        except OSError:
            return {}
        rows = csv.DictReader(io.StringIO(text.removeprefix("# ")))
        return {row["svname"]: row for row in rows if row["pxname"] == BACKEND and row["svname"] not in ("BACKEND",)}

    def state(self, name: str) -> str:
        """UP, DOWN, or a transition such as "UP 1/2"."""
        return self.stats().get(name, {}).get("status", "")

    def wait_state(self, name: str, wanted: str, timeout: float) -> float:
        return wait_until(lambda: self.state(name) == wanted, timeout, f"HAProxy sees {name} {wanted}", 0.02)

    def log(self) -> str:
        return (self.directory / "haproxy.log").read_text(errors="replace")

    def request_log(self, wanted: set[str], timeout: float = 5.0) -> dict[str, Routed]:
        """What HAProxy did with each request, by the X-Request-ID the client sent. A line
        is written when HAProxy is done with the request, after the client has its answer:
        waits (up to ``timeout``) until every ``wanted`` request is there."""
        deadline = time.monotonic() + timeout
        while True:
            found = {
                match["rid"]: Routed(match["server"], int(match["status"]), match["term"], int(match["retries"]))
                for match in LOG_LINE.finditer(self.log())
            }
            if wanted <= set(found) or time.monotonic() > deadline:
                return found
            time.sleep(0.1)

    def stop(self) -> None:
        stop_process(self.process)


def running(process: subprocess.Popen[bytes] | None, name: str, log: Any) -> bool:
    """True while ``process`` runs; a failure showing its log once it has exited."""
    if process is not None and process.poll() is None:
        return True
    log.flush()
    pytest.fail(f"{name} exited: {Path(log.name).read_text(errors='replace')[-2000:]}")


def stop_process(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
