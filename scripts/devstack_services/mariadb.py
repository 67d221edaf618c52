"""MariaDB: the packaged server (start-stop-daemon), the application user and database."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from devstack_services.common import Failure, ok, run, svc_line, tcp_open
from devstack_services.procs import (
    NotReady,
    down_preinstalled,
    mark_started,
    read_pid,
    start_daemon,
    stop_pid,
    wait_until,
)
from devstack_services.settings import APP_DB, APP_USER, HOST, Config

NAME = "mariadb"


def ready(cfg: Config) -> bool:
    admin = ["mariadb-admin", "--protocol=tcp", "-h", HOST, "-P", str(cfg.my_port), "-u", "root"]
    return ok([*admin, "--connect-timeout=2", "ping"])


def sql_str(value: str) -> str:
    """A SQL single-quoted string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def setup_sql(password: str) -> str:
    """Idempotent: the database, the user on both loopback names, its grants."""
    pw = sql_str(password)
    lines = [f"CREATE DATABASE IF NOT EXISTS `{APP_DB}`;"]
    for user in (f"'{APP_USER}'@'127.0.0.1'", f"'{APP_USER}'@'localhost'"):
        lines += [
            f"CREATE USER IF NOT EXISTS {user} IDENTIFIED BY {pw};",
            f"ALTER USER {user} IDENTIFIED BY {pw};",
            f"GRANT ALL PRIVILEGES ON `{APP_DB}`.* TO {user};",
        ]
    return "\n".join(lines) + "\n"


def _server_running() -> bool:
    return ok(["pidof", "mariadbd"])


def _start(cfg: Config) -> None:
    run_dir = Path("/run/mysqld")
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        shutil.chown(run_dir, "mysql", "mysql")
        os.chmod(run_dir, 0o755)
    except (LookupError, OSError):
        pass  # no mysql user: the directory as it is (what `install -d || mkdir -p` gave)
    pidfile = cfg.run / "mariadb.pid"
    pidfile.unlink(missing_ok=True)
    log = cfg.run / "mariadb.log"
    command = ["start-stop-daemon", "--start", "--oknodo", "--background", "--make-pidfile"]
    command += ["--pidfile", str(pidfile), "--output", str(log), "--exec", "/usr/sbin/mariadbd"]

    def mark() -> None:
        pid = read_pid(pidfile) or int(run(["pidof", "-s", "mariadbd"]).out.strip() or "0")
        mark_started(cfg.run, NAME, pid)

    try:
        # the server's output goes to the same log (start-stop-daemon --output)
        start_daemon(
            command, port=cfg.my_port, ready=lambda: ready(cfg), timeout=cfg.wait, log=log, append=True,
            failed="mariadb: start-stop-daemon failed",
            not_ready=f"mariadb: not ready on {HOST}:{cfg.my_port} after {cfg.wait}s",
        )  # fmt: skip
    except NotReady:
        mark()
        raise
    mark()


def _seed(cfg: Config) -> None:
    log = cfg.run / "mariadb-setup.log"
    client = ["mariadb", "--protocol=tcp", "-h", HOST, "-P", str(cfg.my_port)]
    if run([*client, "-u", "root", "--connect-timeout=5"], log=log, stdin=setup_sql(cfg.cred("MYSQL_PASSWORD"))).code:
        raise Failure(f"mariadb: creating user {APP_USER} / database {APP_DB} failed", log)
    probe = [*client, "-u", APP_USER, "--connect-timeout=5", APP_DB, "-e", "select 1"]
    if not ok(probe, env={"MYSQL_PWD": cfg.cred("MYSQL_PASSWORD")}):
        raise Failure(f"mariadb: cannot connect as {APP_USER} to {APP_DB} on {HOST}:{cfg.my_port}")


def up(cfg: Config) -> None:
    state = "reused"
    if not ready(cfg):
        if tcp_open(cfg.my_port) or _server_running():
            if not wait_until(lambda: ready(cfg), cfg.wait):
                raise Failure(f"mariadb: not ready on {HOST}:{cfg.my_port} after {cfg.wait}s", cfg.run / "mariadb.log")
        else:
            _start(cfg)
            state = "started"
    _seed(cfg)
    svc_line(NAME, state, f"{HOST}:{cfg.my_port} db={APP_DB} user={APP_USER}")


def status(cfg: Config) -> None:
    svc_line(NAME, "up" if ready(cfg) else "down", f"{HOST}:{cfg.my_port}")


def down(cfg: Config) -> None:
    def stop(pid: int) -> None:
        stop_pid(pid, 60)
        (cfg.run / "mariadb.pid").unlink(missing_ok=True)

    down_preinstalled(cfg.run, NAME, "mariadbd", stop)
