"""Stopping and restoring the shared local backends (the fault-injection suite only).

Each backend is stopped the way it fails in life (a clean stop, a crash, one node of the
cluster gone, the broker application stopped) and brought back with the same commands
``scripts/services.sh`` uses: ``scripts/services.sh up`` is idempotent and starts only
what is missing (RabbitMQ's application needs ``rabbitmqctl start_app`` first: its node
still runs; the stopped cluster node is started again from its own directory, since
services.sh rebuilds only a cluster it started itself). ``restore`` is safe to call
whatever state the backend is in.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .support import REPO, SERVICES, env_value

RUN_DIR = REPO / ".run"


def sh(*command: str, timeout: float = 120, check: bool = True, env: dict[str, str] | None = None) -> str:
    completed = subprocess.run(
        list(command),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, **(env or {})},
    )
    if check and completed.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {completed.returncode}: {completed.stderr[-2000:]}")
    return completed.stdout


def services_up() -> None:
    """``scripts/services.sh up``: start whatever is missing, re-seed, rewrite the env file."""
    sh("bash", str(SERVICES), "up", timeout=300)


def pid_from(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def wait_gone(pid: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if alive(pid):
        raise RuntimeError(f"pid {pid} still runs after {timeout}s")


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def listener_pid(port: int) -> int | None:
    """The pid of the process listening on 127.0.0.1:``port`` (ss -ltnp)."""
    out = sh("ss", "-ltnpH", f"sport = :{port}", check=False)
    for token in out.replace(",", " ").split():
        if token.startswith("pid="):
            return int(token[4:])
    return None


def kill_service(path: Path, port: int, pattern: str, sig: signal.Signals) -> None:
    """Kill the process of ``pattern`` recorded in ``path``, or else the one listening on
    ``port`` (a checkout other than this one may have started the shared service)."""
    pid = pid_from(path)
    if pid is None or pattern not in cmdline(pid):
        pid = listener_pid(port)
    if pid is None or pattern not in cmdline(pid):
        raise RuntimeError(f"no running {pattern} on port {port}: is scripts/services.sh up?")
    os.kill(pid, sig)
    wait_gone(pid)


# ------------------------------------------------------------------------ stops


def stop_postgres() -> None:
    version = sorted(p.name for p in Path("/etc/postgresql").iterdir())[-1]
    sh("pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "stop", "-m", "fast")


def stop_mariadb() -> None:
    pid = int(sh("pidof", "-s", "mariadbd").strip())
    os.kill(pid, signal.SIGTERM)
    wait_gone(pid)


def kill_openbao() -> None:
    kill_service(RUN_DIR / "bao.pid", 8200, "bao", signal.SIGKILL)


def kill_secantusdb() -> None:
    kill_service(RUN_DIR / "mongodb.pid", 27017, "secantusd", signal.SIGKILL)


CLUSTER_NODE_STOPPED = 7002


STOPPED_NODE_CONFIG: list[Path] = []


def stop_redis() -> None:
    """One Redis Cluster node (the cluster then refuses commands: no replicas) and the
    standalone server. The node's directory (its redis.conf and nodes.conf, as services.sh
    writes them) is remembered so that the node itself can be started again."""
    auth = {"REDISCLI_AUTH": env_value("REDIS_CLUSTER_PASSWORD")}
    pid = listener_pid(CLUSTER_NODE_STOPPED)
    if pid is not None:
        config = Path(os.readlink(f"/proc/{pid}/cwd")) / "redis.conf"
        if config.is_file():
            STOPPED_NODE_CONFIG[:] = [config]
    sh("redis-cli", "-h", "127.0.0.1", "-p", str(CLUSTER_NODE_STOPPED), "shutdown", "nosave", check=False, env=auth)
    sh("redis-cli", "-h", "127.0.0.1", "-p", "6379", "shutdown", "nosave", check=False)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        up = sh("redis-cli", "-h", "127.0.0.1", "-p", "6379", "ping", check=False).strip() == "PONG"
        node = sh("redis-cli", "-h", "127.0.0.1", "-p", str(CLUSTER_NODE_STOPPED), "ping", check=False, env=auth)
        if not up and "PONG" not in node:
            return
        time.sleep(0.2)
    raise RuntimeError("redis did not stop")


def stop_rabbitmq_app() -> None:
    sh("rabbitmqctl", "-q", "stop_app", timeout=120)


# ------------------------------------------------------------------------ restores


def restore_redis() -> None:
    """Start the stopped node again from its own directory (it rejoins the cluster with its
    nodes.conf), then ``services.sh up`` (which also starts the standalone server)."""
    auth = {"REDISCLI_AUTH": env_value("REDIS_CLUSTER_PASSWORD")}
    for config in STOPPED_NODE_CONFIG:
        sh("redis-server", str(config), check=False)
        # the node is back once every node says the cluster is whole again
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            states = [
                sh("redis-cli", "-p", str(port), "cluster", "info", check=False, env=auth)
                for port in (7001, 7002, 7003)
            ]
            if all("cluster_state:ok" in state for state in states):
                break
            time.sleep(0.5)
    STOPPED_NODE_CONFIG.clear()
    services_up()


def restore_rabbitmq() -> None:
    sh("rabbitmqctl", "-q", "start_app", timeout=180, check=False)
    services_up()


@dataclass(frozen=True)
class Fault:
    """One backend: what stops it, what brings it back."""

    name: str  # the health check and breaker name
    how: str  # for the report
    stop: Callable[[], None]
    restore: Callable[[], None] = services_up


FAULTS = [
    Fault("postgres", "pg_ctlcluster stop -m fast", stop_postgres),
    Fault("mysql", "SIGTERM mariadbd", stop_mariadb),
    Fault("vault", "SIGKILL OpenBao (dev server: restored empty, re-seeded)", kill_openbao),
    Fault("mongodb", "SIGKILL SecantusDB", kill_secantusdb),
    Fault(
        "redis", f"shutdown cluster node {CLUSTER_NODE_STOPPED} and the standalone server", stop_redis, restore_redis
    ),
    Fault("rabbitmq", "rabbitmqctl stop_app", stop_rabbitmq_app, restore_rabbitmq),
]
