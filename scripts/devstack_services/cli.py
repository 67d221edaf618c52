"""``scripts/services.sh up|down|status|env``: the commands, their order, the lock."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

from devstack_services import envfile, mariadb, mongodb, postgres, rabbitmq, redis, redis_cluster, settings, vault
from devstack_services.common import Failure, report_failure, write_file_atomic
from devstack_services.procs import locked
from devstack_services.settings import Config

USAGE = """\
Local backends for devstack: PostgreSQL, MariaDB, Redis (standalone and a
3-node cluster), RabbitMQ, OpenBao (Vault API, dev mode) and SecantusDB
(MongoDB API). Everything listens on 127.0.0.1 only.

  scripts/services.sh up      start what is missing, reuse what runs, seed
                              users/secrets, write .run/devstack.env
  scripts/services.sh down    stop only what `up` started (pid files and
                              .run/started-by-us); leave the rest alone
  scripts/services.sh status  one line per service, up/down (exit 0)
  scripts/services.sh env     print the `export KEY=value` lines the app and
                              the tests use: eval "$(scripts/services.sh env)"

Idempotent and safe to re-run from any directory. Credentials come from
scripts/dev-credentials.env (dev-only values). State lives in .run/ at the
repo root (gitignored). Tunables (environment):
  DEVSTACK_WAIT_TIMEOUT         seconds to wait for a service (default 30)
  DEVSTACK_RABBIT_WAIT_TIMEOUT  seconds to wait for RabbitMQ (default 90)
"""

# Trying the tool on private instances (its tests do): these leave the shared ones alone.
PRIVATE = """\
Private instances (the tool's own tests use these; the shared services are untouched):
  DEVSTACK_SERVICES_RUN_DIR     state directory instead of .run/ (the standalone
                                Redis then keeps its data and log there too)
  DEVSTACK_SERVICES_ONLY        comma-separated services to act on (default all:
                                postgres,mariadb,redis,redis-cluster,rabbitmq,vault,mongodb)
  DEVSTACK_SERVICES_<NAME>_PORT port of POSTGRES, MARIADB, REDIS, RABBITMQ,
                                RABBITMQ_MANAGEMENT, VAULT, MONGODB;
                                DEVSTACK_SERVICES_REDIS_CLUSTER_PORTS=7001,7002,7003
  DEVSTACK_SERVICES_VENV        the tooling venv (default .services-venv)
  DEVSTACK_SERVICES_LOCK_TIMEOUT seconds an up/down waits for another one (default 300)
"""

Step = Callable[[Config], None]
UP: dict[str, Step] = {
    "postgres": postgres.up,
    "mariadb": mariadb.up,
    "redis": redis.up,
    "redis-cluster": redis_cluster.up,
    "rabbitmq": rabbitmq.up,
    "vault": vault.up,
    "mongodb": mongodb.up,
}
STATUS: dict[str, Step] = {
    "postgres": postgres.status,
    "mariadb": mariadb.status,
    "redis": redis.status,
    "redis-cluster": redis_cluster.status,
    "rabbitmq": rabbitmq.status,
    "vault": vault.status,
    "mongodb": mongodb.status,
}
# `down` stops the preinstalled ones last, in this order (after our own daemons).
DOWN_PREINSTALLED: dict[str, Step] = {
    "rabbitmq": rabbitmq.down,
    "redis": redis.down,
    "mariadb": mariadb.down,
    "postgres": postgres.down,
}


def cmd_up(cfg: Config) -> None:
    started = time.monotonic()
    for name in cfg.only:
        UP[name](cfg)
    write_file_atomic(cfg.env_file, envfile.render(cfg), 0o600)
    tenths = int((time.monotonic() - started) * 10)
    print(
        f"all services ready in {tenths // 10}.{tenths % 10}s; env written to {cfg.run_label}/devstack.env"
        ' (or: eval "$(scripts/services.sh env)")'
    )


def cmd_down(cfg: Config) -> None:
    """Our own daemons first, stopped in parallel: OpenBao (in-memory, so its CA and
    AppRole creds die with it), SecantusDB, the cluster nodes; then what `up` recorded
    starting among the preinstalled services."""
    bao = vault.begin_down(cfg) if "vault" in cfg.only else None
    mongo = mongodb.begin_down(cfg) if "mongodb" in cfg.only else None
    nodes = redis_cluster.stop_ours(cfg) if "redis-cluster" in cfg.only else []
    if "vault" in cfg.only:
        vault.finish_down(cfg, bao)
    if "mongodb" in cfg.only:
        mongodb.finish_down(cfg, mongo)
    if "redis-cluster" in cfg.only:
        redis_cluster.report_down(cfg, nodes)
    for name, step in DOWN_PREINSTALLED.items():
        if name in cfg.only:
            step(cfg)


def cmd_status(cfg: Config) -> None:
    for name in cfg.only:
        STATUS[name](cfg)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    command = args[0] if args else ""
    if command in ("-h", "--help", "help"):
        print(USAGE + "\n" + PRIVATE, end="")
        return 0
    if command not in ("up", "down", "status", "env"):
        print(USAGE, end="", file=sys.stderr)
        return 2
    try:
        cfg = settings.load(Path(__file__).resolve().parents[2])
        if command == "env":
            print(envfile.render(cfg), end="")
        elif command == "status":
            cmd_status(cfg)
        else:
            with locked(cfg.run, cfg.lock_wait):
                (cmd_up if command == "up" else cmd_down)(cfg)
    except Failure as failure:
        report_failure(failure)
        return 1
    return 0
