"""Helpers of the redis plugin's tests: a private Redis Cluster the tests may stop and
restart, and where keys land on it (the rest is in devstack.testkit)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from redis.crc import key_slot


@dataclass
class Target:
    """One Redis deployment the plugin is pointed at, with a direct client for checks."""

    mode: str
    env: dict[str, str | None]
    client: Any
    namespace: str

    @property
    def examples_prefix(self) -> str:
        return f"{self.namespace}cache:"

    @property
    def shared_prefix(self) -> str:
        return f"{self.namespace}shared:"


# ------------------------------------------------------------------ ports
def port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def cluster_ports(count: int) -> list[int]:
    """``count`` ports whose cluster bus ports (+10000) are free too."""
    ports: list[int] = []
    candidate = 20000 + (os.getpid() * 7) % 20000
    while len(ports) < count:
        candidate += 1
        if candidate > 45000:
            candidate = 20001
        if port_free(candidate) and port_free(candidate + 10000):
            ports.append(candidate)
    return ports


# ------------------------------------------------------------------ private cluster
class PrivateCluster:
    """A 3-node Redis Cluster (no replicas, password protected) in a temporary directory.

    Nodes can be stopped and started again with their identity (nodes.conf) kept, so
    the cluster heals by itself. Only this test session uses it.
    """

    def __init__(self, base: Path, password: str, size: int = 3) -> None:
        self.base = base
        self.password = password
        self.ports = cluster_ports(size)
        self.processes: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def nodes_setting(self) -> str:
        return ",".join(f"priv-{index}=127.0.0.1:{port}" for index, port in enumerate(self.ports, start=1))

    def node_dir(self, port: int) -> Path:
        return self.base / str(port)

    def client(self, port: int) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=port, password=self.password, socket_timeout=2)

    def start_node(self, port: int) -> None:
        directory = self.node_dir(port)
        directory.mkdir(parents=True, exist_ok=True)
        config = directory / "redis.conf"
        if not config.exists():
            config.write_text(
                "\n".join(
                    [
                        f"port {port}",
                        "bind 127.0.0.1",
                        "cluster-enabled yes",
                        "cluster-config-file nodes.conf",
                        "cluster-node-timeout 1000",
                        f'dir "{directory}"',
                        f'logfile "{directory}/redis.log"',
                        'save ""',
                        "appendonly no",
                        f'requirepass "{self.password}"',
                        f'masterauth "{self.password}"',
                    ]
                )
                + "\n"
            )
            config.chmod(0o600)
        self.processes[port] = subprocess.Popen(
            ["redis-server", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.wait(lambda: self.ping(port), f"node {port} answers PING")

    def start_stopped_nodes(self) -> None:
        """Start again any node a test stopped (and resume a frozen one)."""
        for port in self.ports:
            process = self.processes.get(port)
            if process is None or process.poll() is not None:
                self.processes.pop(port, None)
                self.start_node(port)
            else:
                os.kill(process.pid, signal.SIGCONT)

    def stop_node(self, port: int) -> None:
        process = self.processes.pop(port, None)
        if process is None:
            return
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def ping(self, port: int) -> bool:
        try:
            with self.client(port) as client:
                return bool(client.ping())
        except redis.RedisError:
            return False

    def state_ok(self) -> bool:
        for port in self.ports:
            try:
                with self.client(port) as client:
                    info = client.execute_command("CLUSTER", "INFO")
            except redis.RedisError:
                return False
            text = info.decode() if isinstance(info, bytes) else str(info)
            if "cluster_state:ok" not in text or f"cluster_known_nodes:{len(self.ports)}" not in text:
                return False
        return True

    def state_of(self, port: int) -> str | None:
        try:
            with self.client(port) as client:
                info = client.execute_command("CLUSTER", "INFO")
        except redis.RedisError:
            return None
        text = info.decode() if isinstance(info, bytes) else str(info)
        for line in text.splitlines():
            if line.startswith("cluster_state:"):
                return line.split(":", 1)[1].strip()
        return None

    @staticmethod
    def wait(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.1)
        raise AssertionError(f"private cluster: {what} not within {timeout}s")

    def start(self) -> PrivateCluster:
        for port in self.ports:
            self.start_node(port)
        created = subprocess.run(
            [
                "redis-cli",
                "--cluster",
                "create",
                *(f"127.0.0.1:{port}" for port in self.ports),
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            env={**os.environ, "REDISCLI_AUTH": self.password},
            capture_output=True,
            timeout=60,
            check=False,
        )
        if created.returncode != 0:
            self.stop()
            raise AssertionError("private cluster: redis-cli --cluster create failed")
        self.wait(self.state_ok, "cluster_state ok on every node")
        return self

    def stop(self) -> None:
        for port in list(self.processes):
            self.stop_node(port)
        shutil.rmtree(self.base, ignore_errors=True)

    def port_of_slot(self, slot: int) -> int:
        with self.client(self.ports[0]) as client:
            for start, end, master, *_ in client.execute_command("CLUSTER", "SLOTS"):
                if int(start) <= slot <= int(end):
                    return int(master[1])
        raise AssertionError(f"slot {slot} is not served")


def keys_on_each_node(prefix: str, masters: Mapping[int, int], count: int = 200) -> dict[int, str]:
    """One key name (after ``prefix``) per master port, chosen by the key's slot.

    ``masters`` maps the first slot of each master's range to its port (ranges in order).
    """
    starts = sorted(masters)
    found: dict[int, str] = {}
    for index in range(count * 50):
        name = f"k{index}"
        slot = key_slot((prefix + name).encode())
        start = max(s for s in starts if s <= slot)
        found.setdefault(masters[start], name)
        if len(found) == len(masters):
            return found
    raise AssertionError("could not find keys for every master")


def master_ranges(client: Any) -> dict[int, int]:
    """``{first slot: port}`` of every master, from CLUSTER SLOTS of a direct client."""
    return {int(start): int(master[1]) for start, _end, master, *_ in client.execute_command("CLUSTER", "SLOTS")}
