"""Redis Cluster: three password-protected nodes in <run>/redis-cluster/<port>, no
replicas, no persistence. Only nodes whose pid file this tool wrote are ever stopped."""

from __future__ import annotations

import shutil
from pathlib import Path

from devstack_services.common import Failure, Result, run, svc_line, tcp_open, warn, write_file_atomic
from devstack_services.procs import (
    pid_gone,
    pid_matches,
    pidfile_matches,
    read_pid,
    start_daemon,
    stop_pid,
    terminate,
    wait_until,
)
from devstack_services.redis import info_field
from devstack_services.settings import HOST, Config

NAME = "redis-cluster"
SLOTS = "16384"


def node_dir(cfg: Config, port: int) -> Path:
    return cfg.run / "redis-cluster" / str(port)


def cli_result(cfg: Config, port: int, *args: str) -> Result:
    """redis-cli against a cluster node, the password in the environment (not argv)."""
    env = {"REDISCLI_AUTH": cfg.cred("REDIS_CLUSTER_PASSWORD")}
    return run(["redis-cli", "-h", HOST, "-p", str(port), *args], env=env, timeout=10)


def cli(cfg: Config, port: int, *args: str) -> str:
    return cli_result(cfg, port, *args).out


def ping(cfg: Config, port: int) -> bool:
    return cli(cfg, port, "ping").strip() == "PONG"


def ours(cfg: Config, port: int) -> bool:
    """The node on ``port`` was started by this tool (a live pid file in its directory)."""
    return pidfile_matches(node_dir(cfg, port) / "redis.pid", "redis-server")


def info(cfg: Config, port: int, field: str) -> str:
    return info_field(cli(cfg, port, "cluster", "info"), field)


def node_ok(cfg: Config, port: int) -> bool:
    answer = cli(cfg, port, "cluster", "info")
    return (
        info_field(answer, "cluster_state") == "ok"
        and info_field(answer, "cluster_slots_assigned") == SLOTS
        and info_field(answer, "cluster_known_nodes") == str(len(cfg.cluster_ports))
    )


def all_ping(cfg: Config) -> bool:
    return all(ping(cfg, port) for port in cfg.cluster_ports)


def all_ok(cfg: Config) -> bool:
    return all(node_ok(cfg, port) for port in cfg.cluster_ports)


def all_fresh(cfg: Config) -> bool:
    """Every node alone, no slots: ready for ``cluster create``."""
    return all(
        info(cfg, port, "cluster_known_nodes") == "1" and info(cfg, port, "cluster_slots_assigned") == "0"
        for port in cfg.cluster_ports
    )


def stop_ours(cfg: Config) -> list[int]:
    """Stop, in parallel, every node this tool started; their ports. Others are left alone."""
    stopped: list[tuple[int, int]] = []
    for port in cfg.cluster_ports:
        pid = read_pid(node_dir(cfg, port) / "redis.pid")
        if pid is not None and pid_matches(pid, "redis-server"):
            if cli_result(cfg, port, "shutdown", "nosave").code != 0:
                terminate(pid)
            stopped.append((port, pid))
    for _port, pid in stopped:
        if not wait_until(lambda pid=pid: pid_gone(pid), 10):  # type: ignore[misc]
            stop_pid(pid, 10)
    for port in cfg.cluster_ports:
        (node_dir(cfg, port) / "redis.pid").unlink(missing_ok=True)
    return [port for port, _pid in stopped]


def node_config(cfg: Config, port: int) -> str:
    """A config file keeps the password out of the process list."""
    d = node_dir(cfg, port)
    password = cfg.cred("REDIS_CLUSTER_PASSWORD")
    return f"""port {port}
bind 127.0.0.1
protected-mode yes
daemonize yes
cluster-enabled yes
cluster-config-file nodes.conf
cluster-node-timeout 5000
dir "{d}"
pidfile "{d}/redis.pid"
logfile "{d}/redis.log"
save ""
appendonly no
requirepass "{password}"
masterauth "{password}"
"""


def start_node(cfg: Config, port: int) -> None:
    d = node_dir(cfg, port)
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    d.chmod(0o700)
    write_file_atomic(d / "redis.conf", node_config(cfg, port), 0o600)
    start_daemon(
        ["redis-server", str(d / "redis.conf")],
        port=port, ready=lambda: ping(cfg, port), timeout=cfg.wait, log=d / "redis.log", append=True,
        failed=f"redis-cluster: node {port} failed to start",
        not_ready=f"redis-cluster: node {port} not answering after {cfg.wait}s",
    )  # fmt: skip


def create(cfg: Config) -> None:
    log = cfg.run / "redis-cluster" / "create.log"
    addresses = [f"{HOST}:{port}" for port in cfg.cluster_ports]
    command = ["redis-cli", "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"]
    env = {"REDISCLI_AUTH": cfg.cred("REDIS_CLUSTER_PASSWORD")}
    if run(command, log=log, env=env, timeout=120).code != 0:
        raise Failure("redis-cluster: redis-cli --cluster create failed", log)
    if not wait_until(lambda: all_ok(cfg), cfg.wait):
        raise Failure(f"redis-cluster: cluster_state is not ok on every node after {cfg.wait}s", log)


def rebuild(cfg: Config) -> None:
    """Stop every node this tool owns, wipe their dirs, start all and create the cluster
    from scratch (the cluster keeps no data: save "" / no AOF)."""
    for port in cfg.cluster_ports:
        if tcp_open(port) and not ours(cfg, port):
            raise Failure(
                f"redis-cluster: port {port} is used by a process services.sh did not start; stop it or free the port"
            )
    stop_ours(cfg)
    for port in cfg.cluster_ports:
        start_node(cfg, port)
    create(cfg)


def _bring_up(cfg: Config) -> str:
    """Make the cluster whole; the state word of its line."""
    if all_ping(cfg):
        if all_ok(cfg):
            return "reused"
        if all_fresh(cfg):
            create(cfg)
            return "ready"
        if wait_until(lambda: all_ok(cfg), 6):  # nodes still gossiping after a restart
            return "reused"
        warn("redis-cluster: nodes answer but the cluster is broken; rebuilding it")
    else:
        for port in cfg.cluster_ports:
            if tcp_open(port) and not ping(cfg, port) and not ours(cfg, port):
                raise Failure(
                    f"redis-cluster: port {port} is in use by something that rejects the cluster password"
                    " and was not started by services.sh"
                )
    rebuild(cfg)
    return "started"


def up(cfg: Config) -> None:
    (cfg.run / "redis-cluster").mkdir(parents=True, exist_ok=True)
    state = _bring_up(cfg)
    svc_line(NAME, state, f"{HOST}:{' '.join(str(p) for p in cfg.cluster_ports)} cluster_state:ok")


def status(cfg: Config) -> None:
    state, detail = "up", ""
    for port in cfg.cluster_ports:
        if ping(cfg, port):
            detail += f"{port}:{info(cfg, port, 'cluster_state')} "
        else:
            detail += f"{port}:down "
            state = "down"
    if state == "up" and not all_ok(cfg):
        state = "degraded"
    svc_line(NAME, state, detail)


def report_down(cfg: Config, stopped: list[int]) -> None:
    """After stop_ours: forget the dirs of nodes that are gone, say what was stopped/kept."""
    kept = []
    for port in cfg.cluster_ports:
        if tcp_open(port):
            kept.append(str(port))
        else:
            shutil.rmtree(node_dir(cfg, port), ignore_errors=True)
    if stopped:
        svc_line(NAME, "stopped", " ".join(str(p) for p in stopped))
    if kept:
        svc_line(NAME, "kept", f"{' '.join(kept)} (not started by services.sh)")
