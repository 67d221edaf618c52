"""scripts/services.sh up / status / env / down on private instances: real redis-server,
cluster nodes, OpenBao and SecantusDB processes on free ports, in a private state dir."""

from __future__ import annotations

import base64
import json
import os
import re
import stat
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import psutil
import pymongo
import pytest
from devstack_services.settings import parse_credentials
from pymongo.errors import OperationFailure

from .services_support import Tool, port_open

CREDS = parse_credentials((Path(__file__).resolve().parents[1] / "dev-credentials.env").read_text())
ENV_KEYS = [
    "VAULT_ADDR", "VAULT_TOKEN", "VAULT_APPROLE_DIR", "VAULT_CA_CERT",
    "POSTGRES_HOST", "POSTGRES_PORT", "POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB",
    "MYSQL_HOST", "MYSQL_PORT", "MYSQL_USER", "MYSQL_PASSWORD", "MYSQL_DATABASE",
    "MONGODB_HOST", "MONGODB_PORT", "MONGODB_USER", "MONGODB_PASSWORD", "MONGODB_DATABASE", "MONGODB_AUTH",
    "REDIS_URL", "REDIS_NODES", "REDIS_CLUSTER_PASSWORD",
    "RABBITMQ_HOST", "RABBITMQ_PORT", "RABBITMQ_USER", "RABBITMQ_PASSWORD", "RABBITMQ_VHOST",
    "RABBITMQ_MANAGEMENT_URL",
]  # fmt: skip
SECRETS = [value for key, value in CREDS.items() if len(value) >= 8]


def env_file(tool: Tool) -> dict[str, str]:
    text = (tool.run_dir / "devstack.env").read_text()
    assert text.startswith("# devstack local services (scripts/services.sh); dev-only credentials\n")
    pairs = (line.removeprefix("export ").partition("=") for line in text.splitlines()[1:])
    return {key: value for key, _, value in pairs}


def vault(tool: Tool, method: str, path: str, token: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{tool.ports['vault']}/v1/{path}",
        data=json.dumps(data).encode() if data is not None else None,
        method=method,
        headers={"X-Vault-Token": token} if token else {},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        loaded: dict[str, Any] = json.loads(answer.read() or b"{}")
        return loaded


def cluster_info(tool: Tool, port: int) -> str:
    auth = {**os.environ, "REDISCLI_AUTH": CREDS["REDIS_CLUSTER_PASSWORD"]}
    done = subprocess.run(["redis-cli", "-p", str(port), "cluster", "info"], capture_output=True, text=True, env=auth)
    return done.stdout


def our_pids(tool: Tool) -> dict[str, int]:
    """The pids the tool recorded for what it started."""
    run = tool.run_dir
    pids = {"vault": int((run / "bao.pid").read_text()), "mongodb": int((run / "mongodb.pid").read_text())}
    for port in tool.cluster_ports:
        pids[f"node {port}"] = int((run / "redis-cluster" / str(port) / "redis.pid").read_text())
    pids["redis"] = int((run / "started-by-us").read_text().split()[1])
    return pids


def check_seeded(tool: Tool) -> None:
    """What the app needs: AppRole login from the files, the seeded secret, transit, a
    Mongo user that writes while an anonymous write is refused, a whole cluster."""
    approle = Path(env_file(tool)["VAULT_APPROLE_DIR"])
    login = {
        "role_id": (approle / "role-id").read_text().strip(),
        "secret_id": (approle / "secret-id").read_text().strip(),
    }
    token = vault(tool, "POST", "auth/approle/login", "", login)["auth"]["client_token"]
    stored = vault(tool, "GET", "secret/data/postgres", token)["data"]["data"]
    assert stored == {
        "user": "appuser",
        "password": CREDS["POSTGRES_PASSWORD"],
        "database": "appdb",
        "tls_enabled": "false",
    }
    assert vault(tool, "GET", "secret/data/redis-3", token)["data"]["data"] == {
        "password": CREDS["REDIS_CLUSTER_PASSWORD"]
    }
    sealed = vault(tool, "POST", "transit/encrypt/devstack", token, {"plaintext": base64.b64encode(b"x").decode()})
    assert sealed["data"]["ciphertext"].startswith("vault:v1:")
    assert "BEGIN CERTIFICATE" in Path(env_file(tool)["VAULT_CA_CERT"]).read_text()
    port = tool.ports["mongodb"]
    with pymongo.MongoClient("127.0.0.1", port, username="appuser", password=CREDS["MONGODB_PASSWORD"],
                             authSource="appdb", serverSelectionTimeoutMS=5000) as mongo:  # fmt: skip
        assert mongo.appdb.t.insert_one({"x": 1}).inserted_id is not None
    anonymous = pymongo.MongoClient("127.0.0.1", port, serverSelectionTimeoutMS=5000)
    with anonymous, pytest.raises(OperationFailure):
        anonymous.appdb.t.insert_one({"x": 2})
    for node in tool.cluster_ports:
        assert "cluster_state:ok" in cluster_info(tool, node)


def test_up_starts_reuses_and_down_stops_only_its_own(tool: Tool) -> None:
    first = tool("up")
    assert first.returncode == 0, first.stderr
    assert {name: state for name, (state, _) in tool.lines(first.stdout).items() if name != "all"} == {
        "redis": "started", "redis-cluster": "started", "vault": "started", "mongodb": "started",
    }  # fmt: skip
    assert re.search(
        rf"all services ready in \d+\.\ds; env written to {re.escape(str(tool.run_dir))}/devstack.env", first.stdout
    )
    env = env_file(tool)
    assert list(env) == ENV_KEYS
    assert env["REDIS_URL"] == f"redis://127.0.0.1:{tool.ports['redis']}/0"
    assert env["REDIS_NODES"] == ",".join(f"redis-{i}=127.0.0.1:{p}" for i, p in enumerate(tool.cluster_ports, 1))
    assert env["MONGODB_AUTH"] == "true" and env["VAULT_ADDR"] == f"http://127.0.0.1:{tool.ports['vault']}"
    assert stat.S_IMODE((tool.run_dir / "devstack.env").stat().st_mode) == 0o600
    assert tool("env").stdout == (tool.run_dir / "devstack.env").read_text()
    check_seeded(tool)

    status = tool("status")
    assert status.returncode == 0
    assert [line.split()[:2] for line in status.stdout.splitlines()] == [
        ["redis", "up"], ["redis-cluster", "up"], ["vault", "up"], ["mongodb", "up"],
    ]  # fmt: skip

    # a re-run reuses everything, re-seeds, and writes the same files
    before = {p: (tool.run_dir / p).read_bytes() for p in ("devstack.env", "vault-approle/secret-id", "started-by-us")}
    pids = our_pids(tool)
    again = tool("up")
    assert again.returncode == 0, again.stderr
    assert {state for name, (state, _) in tool.lines(again.stdout).items() if name != "all"} == {"reused"}
    assert {p: (tool.run_dir / p).read_bytes() for p in before} == before
    assert our_pids(tool) == pids
    check_seeded(tool)

    # the cluster node runs in its own directory, with its redis.conf (tests/backends.py
    # restarts a stopped node from there)
    node = pids[f"node {tool.cluster_ports[1]}"]
    assert Path(os.readlink(f"/proc/{node}/cwd"), "redis.conf").is_file()

    down = tool("down")
    assert down.returncode == 0, down.stderr
    assert [line.split()[:2] for line in down.stdout.splitlines()] == [
        ["vault", "stopped"], ["mongodb", "stopped"], ["redis-cluster", "stopped"], ["redis", "stopped"],
    ]  # fmt: skip
    assert not [
        name for name, pid in pids.items() if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"
    ]
    assert not [port for port in [*tool.ports.values(), *tool.cluster_ports] if port_open(port)]
    assert not (tool.run_dir / "vault-approle").exists() and not (tool.run_dir / "vault-ca.pem").exists()
    assert not (tool.run_dir / "started-by-us").exists()
    assert (tool.run_dir / "mongodb-data").is_dir()  # data kept
    assert [line.split()[:2] for line in tool("status").stdout.splitlines()] == [
        ["redis", "down"], ["redis-cluster", "down"], ["vault", "down"], ["mongodb", "down"],
    ]  # fmt: skip
    for output in (first, again, down):
        assert not [secret for secret in SECRETS if secret in output.stdout + output.stderr]
