"""Helpers of the "prove it holds" suites (fuzzing, hostile input, faults, soak).

Everything here talks to the real local backends of ``scripts/services.sh`` and to a real
``devstack serve`` process; nothing is mocked. Shared backends are used by other tests at
the same time, so whatever a suite creates carries a unique prefix and is removed again.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml

from devstack.testing import ServerProcess
from devstack.testing import parse_raw_response as parse_raw_response  # re-exported: raw HTTP
from devstack.testing import raw_request as raw_request

REPO = Path(__file__).resolve().parent.parent
SPEC_FILE = REPO / "spec" / "openapi.yaml"
ENV_FILE = REPO / ".run" / "devstack.env"
CREDENTIALS_FILE = REPO / "scripts" / "dev-credentials.env"
SERVICES = REPO / "scripts" / "services.sh"

# What must never reach a response or a log line: Python's traceback header and frame
# lines, "SomeError: text" as str(exc)/repr(exc) render it, and the texts drivers put in
# their exceptions. Error *type names* in a JSON field ("error_type": "OSError") are fine.
LEAK_PATTERNS = [
    re.compile(r"Traceback \(most recent call last\)"),
    re.compile(r'File "[^"]+", line \d+'),
    # ("TimeoutError: TimeoutError" is what log filters leave of one: the type name only)
    re.compile(
        r"\b[A-Za-z_][A-Za-z0-9_.]*(?:Error|Exception|Exit|Interrupt): "
        r"(?![A-Za-z_][A-Za-z0-9_.]*(?:Error|Exception|Exit|Interrupt)\b)\S"
    ),
    re.compile(r"\b[A-Za-z_][A-Za-z0-9_.]*(?:Error|Exception)\((?:'|\")"),
    re.compile(r"\[Errno -?\d+\]"),
    re.compile(r"Connect call failed|Connection refused|connection to server at", re.IGNORECASE),
    re.compile(r"\b(?:asyncpg|aiomysql|pymysql|pymongo|aio_pika|aiormq|hvac|redis)\.(?:exceptions|errors|err)\b"),
    re.compile(r"site-packages/"),
]


def services_env() -> dict[str, str]:
    """The connection settings ``scripts/services.sh up`` wrote (.run/devstack.env)."""
    env: dict[str, str] = {}
    if ENV_FILE.is_file():
        for line in ENV_FILE.read_text().splitlines():
            line = line.strip()
            if line.startswith("export "):
                line = line[len("export ") :]
            if "=" in line and not line.startswith("#"):
                key, value = line.split("=", 1)
                env[key] = value.strip().strip("'\"")
    return env


def env_value(name: str) -> str:
    value = os.environ.get(name) or services_env().get(name)
    if not value:
        raise RuntimeError(f"{name} is not set: run scripts/services.sh up (it writes .run/devstack.env)")
    return value


def seeded_credentials() -> list[str]:
    """Every password and token in scripts/dev-credentials.env (8+ characters)."""
    values = []
    for line in CREDENTIALS_FILE.read_text().splitlines():
        match = re.match(r"^\s*(?:export\s+)?([A-Z0-9_]+)=(.*)$", line)
        if match:
            value = match.group(2).strip().strip("'\"")
            if len(value) >= 8:
                values.append(value)
    assert len(values) >= 5, "scripts/dev-credentials.env lost its values"
    return values


def leaks_in(text: str) -> list[str]:
    """Exception texts, stack traces and credentials found in ``text`` (empty: clean)."""
    found = [
        f"pattern {pattern.pattern!r}: ...{text[max(0, m.start() - 60) : m.end() + 60]!r}..."
        for pattern in LEAK_PATTERNS
        if (m := pattern.search(text))
    ]
    found += [f"credential {value[:12]}..." for value in seeded_credentials() if value in text]
    return found


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


# --------------------------------------------------------------------------- contract


def contract() -> dict[str, Any]:
    """The merged contract: spec/openapi.yaml when it exists, else what the installed
    plugins merge to (the same document GET /openapi.json serves; test_contract.py checks
    that the two are equal)."""
    if SPEC_FILE.is_file():
        loaded: dict[str, Any] = yaml.safe_load(SPEC_FILE.read_text())
        return loaded
    from devstack.foundation.settings import CoreSettings
    from devstack.runtime.app import create_app, state_of

    app = create_app(CoreSettings(rate_limit_enabled=False, log_level="WARNING"))
    built: dict[str, Any] = json.loads(json.dumps(state_of(app).contract))
    return built


# --------------------------------------------------------------------------- servers


def server_env(**extra: str) -> dict[str, str]:
    """The environment of a devstack process for these suites: every backend of
    services.sh, strict plugins, no rate limits, no API keys, INFO logs."""
    return {
        **services_env(),
        "DEVSTACK_STRICT_PLUGINS": "1",
        "DEVSTACK_RATE_LIMIT_ENABLED": "false",
        "DEVSTACK_API_KEYS": "",
        "DEVSTACK_API_KEYS_SECRET": "",
        "DEVSTACK_LOG_LEVEL": "INFO",
        # its own shared-cache keys: another devstack on the same Redis (a test running
        # next to it) must not answer its /health/all from its cache
        "REDIS_KEY_PREFIX": f"{unique('devstack-test')}:",
        **extra,
    }


def wait_healthy(url: str, timeout: float = 60.0, services: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Poll the per-service health routes until every one (or ``services``) is healthy."""
    deadline = time.monotonic() + timeout
    names = services or ("vault", "postgres", "mysql", "mongodb", "redis", "rabbitmq")
    last: dict[str, Any] = {}
    while True:
        pending = []
        for name in names:
            try:
                status, body = http_json("GET", f"{url}/health/{name}", timeout=10)
            except OSError:
                status, body = 0, {}
            last[name] = body
            if status != 200 or body.get("status") != "healthy":
                pending.append(name)
        if not pending:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"not healthy after {timeout}s: {pending}: {[last.get(n) for n in pending]}")
        time.sleep(0.5)


@contextmanager
def devstack_process(env: Mapping[str, str], timeout: float = 60.0) -> Iterator[ServerProcess]:
    process = ServerProcess(env=dict(env))
    process.start(timeout=timeout)
    try:
        yield process
    finally:
        process.stop()


def http_json(
    method: str, url: str, body: Any = None, headers: Mapping[str, str] | None = None, timeout: float = 10
) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            raw = answer.read()
            status = answer.status
    except urllib.error.HTTPError as error:
        raw = error.read()
        status = error.code
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode("utf-8", "replace")


# --------------------------------------------------------------------------- processes


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    """Resident memory of the process, KiB (``field="VmHWM"``: its peak so far)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def tcp_peers(pid: int) -> list[tuple[int, int]]:
    """``(local port, remote port)`` of every established TCP connection of ``pid``."""
    inodes = _socket_inodes(pid)
    found = []
    for table in ("tcp", "tcp6"):
        path = Path(f"/proc/{pid}/net/{table}")
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            if len(fields) < 10 or fields[3] != "01" or fields[9] not in inodes:  # 01: ESTABLISHED
                continue
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            found.append((local_port, remote_port))
    return found


BACKEND_PORTS = {
    "postgres": (5432,),
    "mysql": (3306,),
    "mongodb": (27017,),
    "redis": (6379, 7001, 7002, 7003),
    "rabbitmq": (5672, 15672),
    "vault": (8200,),
}


def client_connections(pid: int) -> dict[str, set[int]]:
    """The local ports of ``pid``'s connections to each backend (its side of the count)."""
    peers = tcp_peers(pid)
    return {name: {local for local, remote in peers if remote in ports} for name, ports in BACKEND_PORTS.items()}


def server_side_connections(pid: int) -> dict[str, int]:
    """Connections of ``pid`` as each server lists them: pg_stat_activity, the MariaDB
    processlist, CLIENT LIST of every Redis node, the RabbitMQ management API; MongoDB,
    whose server keeps no per-client list we can read here, and Vault (HTTP) from the
    process's own sockets. Matched to the process by its client ports."""
    ours = client_connections(pid)
    counts: dict[str, int] = {}
    counts["postgres"] = _sql_count("postgres", ours["postgres"])
    counts["mysql"] = _sql_count("mysql", ours["mysql"])
    counts["redis"] = _redis_count(ours["redis"])
    counts["rabbitmq"] = _rabbit_count(ours["rabbitmq"])
    counts["mongodb"] = len(ours["mongodb"])
    counts["vault"] = len(ours["vault"])
    return counts


def _run(command: list[str], env: Mapping[str, str] | None = None, timeout: float = 30) -> str:
    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}, check=False
    )
    return completed.stdout


# The client address of every session the server sees, one per line (host:port or port).
CLIENT_ADDRESS_QUERIES = {
    "postgres": [
        *("psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-XAtq", "-c"),
        "SELECT client_port FROM pg_stat_activity WHERE client_port IS NOT NULL",
    ],
    "mysql": [
        *("mariadb", "--protocol=tcp", "-h", "127.0.0.1", "-u", "root", "-N", "-B", "-e"),
        "SELECT HOST FROM information_schema.PROCESSLIST",
    ],
}


def _sql_count(database: str, ports: set[int]) -> int:
    """Sessions of ``database`` whose client port is one of ``ports``."""
    client_ports = (line.rsplit(":", 1)[-1] for line in _run(CLIENT_ADDRESS_QUERIES[database]).splitlines())
    return sum(1 for port in client_ports if port.strip().isdigit() and int(port) in ports)


def _redis_count(ports: set[int]) -> int:
    password = env_value("REDIS_CLUSTER_PASSWORD")
    count = 0
    for port in BACKEND_PORTS["redis"]:
        env = {"REDISCLI_AUTH": password} if port != 6379 else {}
        out = _run(["redis-cli", "-h", "127.0.0.1", "-p", str(port), "client", "list"], env=env)
        for match in re.finditer(r"\baddr=[^ ]+:(\d+) ", out):
            if int(match.group(1)) in ports:
                count += 1
    return count


def rabbit_api(method: str, path: str, timeout: float = 10) -> Any:
    base = env_value("RABBITMQ_MANAGEMENT_URL").rstrip("/")
    token = base64.b64encode(f"{env_value('RABBITMQ_USER')}:{env_value('RABBITMQ_PASSWORD')}".encode()).decode()
    request = urllib.request.Request(base + path, method=method, headers={"Authorization": f"Basic {token}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            raw = answer.read()
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise
    return json.loads(raw) if raw else None


def _rabbit_count(ports: set[int]) -> int:
    connections = rabbit_api("GET", "/api/connections?columns=peer_port,name") or []
    return sum(1 for c in connections if c.get("peer_port") in ports)


def rabbit_vhost() -> str:
    return quote(env_value("RABBITMQ_VHOST"), safe="")


def rabbit_queues() -> set[str]:
    listed = rabbit_api("GET", f"/api/queues/{rabbit_vhost()}?columns=name") or []
    return {q["name"] for q in listed}


def delete_queue(*names: str) -> None:
    """Delete queues over AMQP (names such as "." or ".." have no management API URL)."""
    import asyncio

    import aiormq

    async def delete() -> None:
        url = (
            f"amqp://{quote(env_value('RABBITMQ_USER'), safe='')}:{quote(env_value('RABBITMQ_PASSWORD'), safe='')}"
            f"@{env_value('RABBITMQ_HOST')}:{env_value('RABBITMQ_PORT')}/{rabbit_vhost()}"
        )
        connection = await aiormq.connect(url)
        try:
            for name in names:
                channel = await connection.channel()
                await channel.queue_delete(name)
                await channel.close()
        finally:
            await connection.close()

    if names:
        asyncio.run(delete())


@contextmanager
def redis_cluster() -> Iterator[Any]:
    """A client of the shared Redis Cluster (the examples' and the shared cache's store)."""
    from redis.cluster import ClusterNode, RedisCluster

    nodes = []
    for item in env_value("REDIS_NODES").split(","):
        address = item.partition("=")[2] or item
        host, _, port = address.rpartition(":")
        nodes.append(ClusterNode(host, int(port)))
    client = RedisCluster(startup_nodes=nodes, password=env_value("REDIS_CLUSTER_PASSWORD"))
    try:
        yield client
    finally:
        client.close()


def cache_keys(prefix: str) -> list[str]:
    """Every key under ``prefix`` in the Redis Cluster (SCAN on every master)."""
    with redis_cluster() as client:
        return sorted(key.decode() for key in client.scan_iter(match=f"{prefix}*", count=1000))


def delete_cache_keys(prefix: str) -> int:
    """Remove every key under ``prefix`` from the Redis Cluster."""
    keys = cache_keys(prefix)
    with redis_cluster() as client:
        for key in keys:
            client.delete(key)
    return len(keys)


def delete_records(key_prefix: str) -> None:
    """Remove the records whose key starts with ``key_prefix`` from the shared
    ``devstack_records`` tables of PostgreSQL and MariaDB (database from Vault: appdb)."""
    database = "appdb"
    like = key_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    _run(
        [
            "psql",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            database,
            "-XAtq",
            "-v",
            f"p={like}",
            "-c",
            "DELETE FROM devstack_records WHERE key LIKE :'p'",
        ]
    )
    escaped = like.replace("\\", "\\\\").replace("'", "\\'")
    _run(
        [
            "mariadb",
            "--protocol=tcp",
            "-h",
            "127.0.0.1",
            "-u",
            "root",
            database,
            "-e",
            f"DELETE FROM devstack_records WHERE `key` LIKE '{escaped}'",
        ]
    )


def mongo_client() -> Any:
    """A client of the shared MongoDB server, as the application user."""
    import pymongo

    return pymongo.MongoClient(
        env_value("MONGODB_HOST"),
        int(env_value("MONGODB_PORT")),
        username=env_value("MONGODB_USER"),
        password=env_value("MONGODB_PASSWORD"),
        authSource=env_value("MONGODB_DATABASE"),
        serverSelectionTimeoutMS=5000,
        socketTimeoutMS=30000,
        connectTimeoutMS=5000,
    )


def delete_mongo_records(key_prefix: str) -> int:
    """Remove the records whose key starts with ``key_prefix`` from the shared MongoDB
    collection (no collection is ever created or dropped: SecantusDB is shared)."""
    import re as regex

    with mongo_client() as client:
        collection = client[env_value("MONGODB_DATABASE")]["devstack_records"]
        deleted: int = collection.delete_many({"key": {"$regex": "^" + regex.escape(key_prefix)}}).deleted_count
        return deleted


def vault_secrets() -> set[str]:
    """The names under the KV v2 mount secret/ (root token of the dev server)."""
    addr = env_value("VAULT_ADDR").rstrip("/")
    request = urllib.request.Request(
        f"{addr}/v1/secret/metadata", method="LIST", headers={"X-Vault-Token": env_value("VAULT_TOKEN")}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return set(json.load(answer)["data"]["keys"])
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return set()
        raise


def best_effort(*steps: tuple[Any, ...]) -> None:
    """Run every clean-up step ``(function, *args)``; raise the first failure at the end."""
    failures: list[BaseException] = []
    for function, *args in steps:
        try:
            function(*args)
        except Exception as exc:  # noqa: BLE001 - the other steps still run
            failures.append(exc)
    if failures:
        raise failures[0]


def delete_vault_secret(name: str) -> None:
    addr = env_value("VAULT_ADDR").rstrip("/")
    http_json(
        "DELETE",
        f"{addr}/v1/secret/metadata/{quote(name, safe='')}",
        headers={"X-Vault-Token": env_value("VAULT_TOKEN")},
    )
