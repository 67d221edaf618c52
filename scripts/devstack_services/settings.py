"""Every path, port, name, credential and timeout the tool uses, read once from the environment.

The defaults are the shared machine's: the repository's ``.run/`` and ``.services-venv``, the
standard ports. ``DEVSTACK_SERVICES_*`` variables move the state directory, the ports and
the selection of services elsewhere, so that the tool can be tried (and tested) on private
instances without touching the shared ones.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from devstack_services.common import Failure

HOST = "127.0.0.1"
APP_USER = "appuser"
APP_DB = "appdb"
RMQ_USER = "devstack"
RMQ_VHOST = "devstack"

# The order of `up`, `status` and the started-by-us registry; the names `status` prints.
SERVICES = ("postgres", "mariadb", "redis", "redis-cluster", "rabbitmq", "vault", "mongodb")

CREDENTIAL_KEYS = (
    "POSTGRES_PASSWORD",
    "MYSQL_PASSWORD",
    "MONGODB_PASSWORD",
    "REDIS_CLUSTER_PASSWORD",
    "RABBITMQ_PASSWORD",
    "VAULT_DEV_ROOT_TOKEN",
)

# (setting, environment variable, default): the ports a private run may move.
PORTS = (
    ("pg_port", "DEVSTACK_SERVICES_POSTGRES_PORT", 5432),
    ("my_port", "DEVSTACK_SERVICES_MARIADB_PORT", 3306),
    ("redis_port", "DEVSTACK_SERVICES_REDIS_PORT", 6379),
    ("rmq_port", "DEVSTACK_SERVICES_RABBITMQ_PORT", 5672),
    ("rmq_mgmt_port", "DEVSTACK_SERVICES_RABBITMQ_MANAGEMENT_PORT", 15672),
    ("vault_port", "DEVSTACK_SERVICES_VAULT_PORT", 8200),
    ("mongo_port", "DEVSTACK_SERVICES_MONGODB_PORT", 27017),
)
CLUSTER_PORTS_VAR = "DEVSTACK_SERVICES_REDIS_CLUSTER_PORTS"


@dataclass(frozen=True)
class Config:
    """Where everything is. ``run`` is the state directory with symlinks resolved, so the
    paths written to the env file name the real files whichever checkout ran ``up``."""

    root: Path
    run: Path
    private: bool  # DEVSTACK_SERVICES_RUN_DIR given: nothing outside it is written
    run_label: str  # how messages name the state directory (".run" by default)
    venv: Path
    creds_file: Path
    creds: Mapping[str, str]
    wait: int
    rabbit_wait: int
    lock_wait: int
    only: tuple[str, ...]
    cluster_ports: tuple[int, ...]
    pg_port: int = 5432
    my_port: int = 3306
    redis_port: int = 6379
    rmq_port: int = 5672
    rmq_mgmt_port: int = 15672
    vault_port: int = 8200
    mongo_port: int = 27017

    @property
    def vault_addr(self) -> str:
        return f"http://{HOST}:{self.vault_port}"

    @property
    def rmq_mgmt_url(self) -> str:
        return f"http://{HOST}:{self.rmq_mgmt_port}"

    @property
    def approle_dir(self) -> Path:
        return self.run / "vault-approle"

    @property
    def vault_ca(self) -> Path:
        return self.run / "vault-ca.pem"

    @property
    def env_file(self) -> Path:
        return self.run / "devstack.env"

    @property
    def redis_dir(self) -> Path:
        """The standalone server's directory: the system one, or a private run's own."""
        return self.run / "redis" if self.private else Path("/var/lib/redis")

    @property
    def redis_log(self) -> Path:
        return self.run / "redis" / "redis.log" if self.private else Path("/var/log/redis/ci.log")

    def cred(self, key: str) -> str:
        return self.creds[key]


def parse_credentials(text: str) -> dict[str, str]:
    """``KEY=value`` lines (``export`` and one level of quotes allowed), comments skipped."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        match = re.match(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$", line)
        if not match or line.lstrip().startswith("#"):
            continue
        value = match.group(2).strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[match.group(1)] = value
    return values


def _whole_seconds(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name) or str(default)
    if not raw.isdigit():
        raise Failure(f"{name} must be a whole number of seconds, not {raw!r}")
    return int(raw)


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name) or str(default)
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise Failure(f"{name} must be a TCP port, not {raw!r}")
    return int(raw)


def _selection(env: Mapping[str, str]) -> tuple[str, ...]:
    raw = env.get("DEVSTACK_SERVICES_ONLY", "")
    if not raw.strip():
        return SERVICES
    wanted = {name.strip() for name in raw.split(",") if name.strip()}
    unknown = sorted(wanted - set(SERVICES))
    if unknown:
        raise Failure(
            f"DEVSTACK_SERVICES_ONLY names unknown services {', '.join(unknown)} (known: {' '.join(SERVICES)})"
        )
    return tuple(name for name in SERVICES if name in wanted)


def load(root: Path, env: Mapping[str, str] = os.environ) -> Config:
    """The configuration of this run, from the repository root and the environment."""
    run_dir = env.get("DEVSTACK_SERVICES_RUN_DIR", "")
    run = Path(run_dir) if run_dir else root / ".run"
    run.mkdir(parents=True, exist_ok=True)
    creds_file = root / "scripts" / "dev-credentials.env"
    creds = parse_credentials(creds_file.read_text())
    for key in CREDENTIAL_KEYS:
        if not creds.get(key):
            raise Failure(f"{key} is not set in {creds_file}")
    cluster_raw = env.get(CLUSTER_PORTS_VAR) or "7001,7002,7003"
    cluster = tuple(_port({CLUSTER_PORTS_VAR: p.strip()}, CLUSTER_PORTS_VAR, 0) for p in cluster_raw.split(","))
    return Config(
        root=root,
        run=run.resolve(),
        private=bool(run_dir),
        run_label=run_dir or ".run",
        venv=Path(env.get("DEVSTACK_SERVICES_VENV") or root / ".services-venv"),
        creds_file=creds_file,
        creds=creds,
        wait=_whole_seconds(env, "DEVSTACK_WAIT_TIMEOUT", 30),
        rabbit_wait=_whole_seconds(env, "DEVSTACK_RABBIT_WAIT_TIMEOUT", 90),
        lock_wait=_whole_seconds(env, "DEVSTACK_SERVICES_LOCK_TIMEOUT", 300),
        only=_selection(env),
        cluster_ports=cluster,
        **{field: _port(env, name, default) for field, name, default in PORTS},
    )
