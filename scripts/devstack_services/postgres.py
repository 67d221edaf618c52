"""PostgreSQL: the Debian cluster ``<version>/main`` (pg_ctlcluster), role and database."""

from __future__ import annotations

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

NAME = "postgres"

# Idempotent: the role with the password from the credentials file, the database owned by it.
SETUP_SQL = r"""SELECT format('CREATE ROLE %I LOGIN', :'user')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'user') \gexec
ALTER ROLE :"user" WITH LOGIN PASSWORD :'pw';
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'user')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \gexec
ALTER DATABASE :"db" OWNER TO :"user";
"""


def ready(cfg: Config) -> bool:
    return ok(["pg_isready", "-h", HOST, "-p", str(cfg.pg_port), "-q", "-t", "2"])


def version() -> str:
    """The newest cluster version under /etc/postgresql."""
    try:
        names = [p.name for p in Path("/etc/postgresql").iterdir() if p.is_dir()]
    except OSError:
        names = []
    if not names:
        raise Failure("postgres: no cluster found under /etc/postgresql")
    return max(names, key=lambda v: [int(part) if part.isdigit() else 0 for part in v.split(".")])


def postmaster_pid(ver: str) -> int:
    """The pid of the postmaster of cluster ``ver``/main, from its postmaster.pid (0: unknown)."""
    for line in run(["pg_lsclusters", "-h"]).out.splitlines():
        fields = line.split()
        if len(fields) >= 6 and fields[0] == ver and fields[1] == "main":
            return read_pid(Path(fields[5]) / "postmaster.pid") or 0
    return 0


def _start(cfg: Config) -> None:
    ver = version()
    log = cfg.run / "postgres-start.log"
    try:
        start_daemon(
            ["pg_ctlcluster", "--skip-systemctl-redirect", ver, "main", "start"],
            port=cfg.pg_port, ready=lambda: ready(cfg), timeout=cfg.wait, log=log,
            failed=f"postgres: pg_ctlcluster {ver} main start failed",
            not_ready=f"postgres: not ready on {HOST}:{cfg.pg_port} after {cfg.wait}s",
        )  # fmt: skip
    except NotReady:
        # started, just slow: still ours to stop
        mark_started(cfg.run, NAME, postmaster_pid(ver))
        raise
    mark_started(cfg.run, NAME, postmaster_pid(ver))


def _seed(cfg: Config) -> None:
    log = cfg.run / "postgres-setup.log"
    password = cfg.cred("POSTGRES_PASSWORD")
    command = ["psql", "-h", HOST, "-p", str(cfg.pg_port), "-U", "postgres", "-d", "postgres", "-X", "-q"]
    command += ["-v", "ON_ERROR_STOP=1", "-v", f"user={APP_USER}", "-v", f"db={APP_DB}", "-v", f"pw={password}"]
    if run(command, log=log, stdin=SETUP_SQL).code != 0:
        raise Failure(f"postgres: creating role {APP_USER} / database {APP_DB} failed", log)
    probe = ["psql", "-h", HOST, "-p", str(cfg.pg_port), "-U", APP_USER, "-d", APP_DB, "-X", "-q", "-At"]
    if not ok([*probe, "-c", "select 1"], env={"PGPASSWORD": password, "PGCONNECT_TIMEOUT": "5"}):
        raise Failure(f"postgres: cannot connect as {APP_USER} to {APP_DB} on {HOST}:{cfg.pg_port}")


def up(cfg: Config) -> None:
    state = "reused"
    if not ready(cfg):
        if tcp_open(cfg.pg_port):
            # starting or recovering: wait for it rather than start a second one
            if not wait_until(lambda: ready(cfg), cfg.wait):
                raise Failure(f"postgres: not ready on {HOST}:{cfg.pg_port} after {cfg.wait}s")
        else:
            _start(cfg)
            state = "started"
    _seed(cfg)
    svc_line(NAME, state, f"{HOST}:{cfg.pg_port} db={APP_DB} user={APP_USER}")


def status(cfg: Config) -> None:
    svc_line(NAME, "up" if ready(cfg) else "down", f"{HOST}:{cfg.pg_port}")


def down(cfg: Config) -> None:
    def stop(pid: int) -> None:
        if not ok(["pg_ctlcluster", "--skip-systemctl-redirect", version(), "main", "stop"]):
            stop_pid(pid, 60)

    down_preinstalled(cfg.run, NAME, "postgres", stop)
