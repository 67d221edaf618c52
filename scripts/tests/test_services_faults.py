"""What the tool refuses and reports: a service it did not start is kept, a port taken
by something else is named, a slow start names its log and is still stopped by `down`,
a second up/down waits for the lock."""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

from devstack_services.settings import parse_credentials

from .services_support import SCRIPTS, Tool

CREDS = parse_credentials((SCRIPTS / "dev-credentials.env").read_text())


@contextmanager
def listener(port: int) -> Iterator[None]:
    """A plain TCP listener: accepts connections, speaks no protocol."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(8)
        yield


def test_a_redis_it_did_not_start_is_reused_and_kept(tool: Tool) -> None:
    port = tool.ports["redis"]
    foreign = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        ping = ["redis-cli", "-p", str(port), "ping"]
        for _ in range(100):
            if subprocess.run(ping, capture_output=True, text=True).stdout.strip() == "PONG":
                break
            subprocess.run(["sleep", "0.1"], check=True)
        up = tool("up", DEVSTACK_SERVICES_ONLY="redis")
        assert up.returncode == 0, up.stderr
        assert up.stdout.splitlines()[0].split()[:2] == ["redis", "reused"]
        assert not (tool.run_dir / "started-by-us").exists()
        down = tool("down", DEVSTACK_SERVICES_ONLY="redis")
        assert down.stdout.splitlines() == ["redis          kept     not started by services.sh"]
        assert foreign.poll() is None  # still runs
    finally:
        foreign.terminate()
        foreign.wait(10)


def test_a_port_taken_by_something_else_is_named(tool: Tool) -> None:
    vault_port = tool.ports["vault"]
    with listener(vault_port):
        up = tool("up", DEVSTACK_SERVICES_ONLY="vault")
    assert up.returncode == 1
    assert up.stderr.strip() == (
        f"ERROR: vault: something listens on 127.0.0.1:{vault_port} but does not answer /v1/sys/health"
    )
    node = tool.cluster_ports[2]
    with listener(node):
        up = tool("up", DEVSTACK_SERVICES_ONLY="redis-cluster")
    assert up.returncode == 1
    assert f"ERROR: redis-cluster: port {node} is in use by something that rejects the cluster password" in up.stderr


def test_a_slow_start_names_its_log_and_down_still_stops_it(tool: Tool) -> None:
    up = tool("up", DEVSTACK_SERVICES_ONLY="vault", DEVSTACK_WAIT_TIMEOUT="0")
    assert up.returncode == 1
    log = tool.run_dir / "bao.log"
    vault_port = tool.ports["vault"]
    assert up.stderr.startswith(f"ERROR: vault: /v1/sys/health not 200 on http://127.0.0.1:{vault_port} after 0s\n")
    assert f"--- last lines of {log} ---\n" in up.stderr or up.stderr.endswith(f"(nothing in {log} yet)\n")
    pid = int((tool.run_dir / "bao.pid").read_text())
    down = tool("down", DEVSTACK_SERVICES_ONLY="vault")
    assert down.stdout.splitlines() == [f"vault          stopped  pid {pid}"]


def test_up_and_down_wait_for_the_lock_and_status_does_not(tool: Tool) -> None:
    tool.run_dir.mkdir(parents=True)
    with (tool.run_dir / ".lock").open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        blocked = tool("down", DEVSTACK_SERVICES_LOCK_TIMEOUT="1")
        status = tool("status", DEVSTACK_SERVICES_ONLY="redis")
    assert blocked.returncode == 1
    lock = tool.run_dir.resolve() / ".lock"
    assert blocked.stderr.strip() == f"ERROR: another scripts/services.sh up/down is still running (lock {lock})"
    assert status.returncode == 0 and status.stdout.split()[:2] == ["redis", "down"]
    assert tool("down", DEVSTACK_SERVICES_LOCK_TIMEOUT="1").returncode == 0


def test_usage_and_bad_settings(tool: Tool) -> None:
    usage = tool("--help")
    assert usage.returncode == 0 and "scripts/services.sh up      start what is missing" in usage.stdout
    assert "DEVSTACK_SERVICES_RUN_DIR" in usage.stdout
    wrong = tool("restart")
    assert wrong.returncode == 2 and wrong.stdout == "" and "scripts/services.sh down" in wrong.stderr
    unknown = tool("status", DEVSTACK_SERVICES_ONLY="redis,memcached")
    assert (
        unknown.returncode == 1 and "ERROR: DEVSTACK_SERVICES_ONLY names unknown services memcached" in unknown.stderr
    )
    slow = tool("up", DEVSTACK_WAIT_TIMEOUT="soon")
    assert slow.returncode == 1
    assert slow.stderr.strip() == "ERROR: DEVSTACK_WAIT_TIMEOUT must be a whole number of seconds, not 'soon'"


def cluster_states(tool: Tool) -> list[str]:
    auth = {**os.environ, "REDISCLI_AUTH": CREDS["REDIS_CLUSTER_PASSWORD"]}
    states = []
    for port in tool.cluster_ports:
        done = subprocess.run(
            ["redis-cli", "-p", str(port), "cluster", "info"], capture_output=True, text=True, env=auth
        )
        states.append(next((line.strip() for line in done.stdout.splitlines() if line.startswith("cluster_state")), ""))
    return states


def test_a_cluster_node_restarted_from_its_dir_is_reused_a_lost_one_rebuilt(tool: Tool) -> None:
    only = {"DEVSTACK_SERVICES_ONLY": "redis-cluster"}
    assert tool("up", **only).returncode == 0
    auth = {**os.environ, "REDISCLI_AUTH": CREDS["REDIS_CLUSTER_PASSWORD"]}
    node = tool.cluster_ports[1]
    config = tool.run_dir / "redis-cluster" / str(node) / "redis.conf"
    # what tests/backends.py does to the shared cluster: stop one node, start it again
    # from its own directory, then `up`
    subprocess.run(["redis-cli", "-p", str(node), "shutdown", "nosave"], env=auth, capture_output=True, check=False)
    subprocess.run(["redis-server", str(config)], check=True, capture_output=True)
    again = tool("up", **only)
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[0].split()[:2] == ["redis-cluster", "reused"]
    # a node lost for good: the cluster it started is rebuilt from scratch
    subprocess.run(["redis-cli", "-p", str(node), "shutdown", "nosave"], env=auth, capture_output=True, check=False)
    rebuilt = tool("up", **only)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert rebuilt.stdout.splitlines()[0].split()[:2] == ["redis-cluster", "started"]
    assert cluster_states(tool) == ["cluster_state:ok"] * 3


def test_a_killed_vault_is_started_again_and_reseeded(tool: Tool) -> None:
    only = {"DEVSTACK_SERVICES_ONLY": "vault"}
    assert tool("up", **only).returncode == 0
    first_pid = int((tool.run_dir / "bao.pid").read_text())
    old_role = (tool.run_dir / "vault-approle" / "role-id").read_text()
    os.kill(first_pid, signal.SIGKILL)  # as tests/backends.py kills the shared one
    again = tool("up", **only)
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[0].split()[:2] == ["vault", "started"]
    assert int((tool.run_dir / "bao.pid").read_text()) != first_pid
    # a new in-memory server: a new role id, and the files the app reads name it
    assert (tool.run_dir / "vault-approle" / "role-id").read_text() != old_role
    status = tool("status", **only)
    assert status.stdout.split()[:2] == ["vault", "up"]
