"""Redis standalone: the packaged redis-server, no password, no persistence."""

from __future__ import annotations

from devstack_services.common import Failure, run, svc_line, tcp_open
from devstack_services.procs import down_preinstalled, mark_started, pid_gone, start_daemon, stop_pid, wait_until
from devstack_services.settings import HOST, Config

NAME = "redis"


def cli(cfg: Config, *args: str) -> str:
    return run(["redis-cli", "-h", HOST, "-p", str(cfg.redis_port), *args], timeout=10).out


def ping(cfg: Config) -> bool:
    return cli(cfg, "ping").strip() == "PONG"


def info_field(info: str, field: str) -> str:
    """One ``field:value`` of an INFO / CLUSTER INFO answer ("" when absent)."""
    for line in info.splitlines():
        key, _, value = line.strip().partition(":")
        if key == field:
            return value.strip()
    return ""


def up(cfg: Config) -> None:
    state = "reused"
    if not ping(cfg):
        if tcp_open(cfg.redis_port):
            raise Failure(
                f"redis: something listens on {HOST}:{cfg.redis_port} but does not answer PING (password set?)"
            )
        cfg.redis_dir.mkdir(parents=True, exist_ok=True)
        cfg.redis_log.parent.mkdir(parents=True, exist_ok=True)
        command = ["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--port", str(cfg.redis_port)]
        command += ["--save", "", "--appendonly", "no", "--dir", str(cfg.redis_dir), "--logfile", str(cfg.redis_log)]
        if cfg.private:
            # (the system server's default pid file is /var/run/redis_<port>.pid)
            command += ["--pidfile", str(cfg.redis_dir / "redis.pid")]
        start_daemon(
            command, port=cfg.redis_port, ready=lambda: ping(cfg), timeout=cfg.wait, log=cfg.redis_log, append=True,
            failed="redis: redis-server failed to start",
            not_ready=f"redis: not answering PING on {HOST}:{cfg.redis_port} after {cfg.wait}s",
        )  # fmt: skip
        pid = info_field(cli(cfg, "info", "server"), "process_id")
        mark_started(cfg.run, NAME, int(pid) if pid.isdigit() else 0)
        state = "started"
    svc_line(NAME, state, f"redis://{HOST}:{cfg.redis_port}/0")


def status(cfg: Config) -> None:
    svc_line(NAME, "up" if ping(cfg) else "down", f"{HOST}:{cfg.redis_port}")


def down(cfg: Config) -> None:
    def stop(pid: int) -> None:
        cli(cfg, "shutdown", "nosave")
        if not wait_until(lambda: pid_gone(pid), 10):
            stop_pid(pid, 10)

    down_preinstalled(cfg.run, NAME, "redis-server", stop)
