"""Helpers: the local-services tool on private instances: its own state directory, free ports,
only the services it can start privately (standalone Redis, the Redis Cluster, OpenBao,
SecantusDB). The shared services of the machine are never touched."""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent.parent
REPO = SCRIPTS.parent
SERVICES = SCRIPTS / "services.sh"
sys.path.insert(0, str(SCRIPTS))  # the tool's package, for its pure functions

PRIVATE_SERVICES = "redis,redis-cluster,vault,mongodb"


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def port_open(port: int) -> bool:
    """Something accepts connections on 127.0.0.1:``port``."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


def free_ports(count: int, *, bus: bool = False) -> list[int]:
    """``count`` free ports; with ``bus``, each one's cluster bus port (+10000) free too."""
    chosen: list[int] = []
    while len(chosen) < count:
        port = random.randint(20000, 39999)
        if port in chosen or not port_free(port) or (bus and not port_free(port + 10000)):
            continue
        chosen.append(port)
    return chosen


@dataclass
class Tool:
    """scripts/services.sh against a private state directory and private ports."""

    run_dir: Path
    env: dict[str, str]
    ports: dict[str, int] = field(default_factory=dict)
    cluster_ports: list[int] = field(default_factory=list)

    def __call__(self, *args: str, timeout: float = 240, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(SERVICES), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**self.env, **extra},
            check=False,
        )

    def lines(self, out: str) -> dict[str, tuple[str, str]]:
        """``name state detail`` lines by name (the last one of each name)."""
        found = {}
        for line in out.splitlines():
            parts = line.split(maxsplit=2)
            if len(parts) >= 2:
                found[parts[0]] = (parts[1], parts[2] if len(parts) > 2 else "")
        return found


def private_env(run_dir: Path) -> tuple[dict[str, str], dict[str, int], list[int]]:
    redis, vault, mongo = free_ports(3)
    cluster = free_ports(3, bus=True)
    ports = {"redis": redis, "vault": vault, "mongodb": mongo}
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("DEVSTACK_SERVICES_") or key == "DEVSTACK_SERVICES_VENV"
    }
    env.update(
        DEVSTACK_SERVICES_RUN_DIR=str(run_dir),
        DEVSTACK_SERVICES_ONLY=PRIVATE_SERVICES,
        DEVSTACK_SERVICES_REDIS_PORT=str(redis),
        DEVSTACK_SERVICES_REDIS_CLUSTER_PORTS=",".join(map(str, cluster)),
        DEVSTACK_SERVICES_VAULT_PORT=str(vault),
        DEVSTACK_SERVICES_MONGODB_PORT=str(mongo),
    )
    return env, ports, cluster


def kill_leftovers(run_dir: Path) -> None:
    """Whatever a failed test left running in its own state directory (pid files only)."""
    for pidfile in [*run_dir.glob("*.pid"), *run_dir.glob("redis-cluster/*/redis.pid"), *run_dir.glob("redis/*.pid")]:
        try:
            os.kill(int(pidfile.read_text().split()[0]), 9)
        except (OSError, ValueError, IndexError):
            pass
    started = run_dir / "started-by-us"
    if started.is_file():
        for line in started.read_text().splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1].isdigit() and int(parts[1]) > 0:
                try:
                    os.kill(int(parts[1]), 9)
                except OSError:
                    pass
