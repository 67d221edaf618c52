"""devstack serve with all six plugins against the real backends, driven over HTTP like a
consumer of the reference API; then the server's whole log is searched for every seeded
credential."""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devstack.testing import ServerProcess

from .conftest import PLUGINS, REPO

ROOT_KEYS = {
    "name",
    "version",
    "description",
    "docs",
    "health",
    "metrics",
    "security",
    "redis_cluster",
    "examples",
    "note",
}


def seeded_credentials() -> list[str]:
    """Every password and token the services script seeds (scripts/dev-credentials.env)."""
    values = []
    for line in (REPO / "scripts" / "dev-credentials.env").read_text().splitlines():
        match = re.match(r"^\s*(?:export\s+)?([A-Z0-9_]+)=(.*)$", line)
        if match and match.group(2).strip("'\""):
            values.append(match.group(2).strip("'\""))
    values = [value for value in values if len(value) >= 8]
    assert len(values) >= 5
    return values


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    env = {"DEVSTACK_LOG_LEVEL": "DEBUG", "DEVSTACK_STRICT_PLUGINS": "1", "DEVSTACK_RATE_LIMIT_ENABLED": "false"}
    process = ServerProcess(env=env).start(timeout=60)
    yield process
    process.stop()


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        yield http


def test_root_has_exactly_the_reference_keys(client: httpx.Client) -> None:
    body = client.get("/").json()
    assert set(body) == ROOT_KEYS
    assert set(body["examples"]) >= {"vault", "databases", "cache", "messaging"}
    assert set(body["redis_cluster"]) == {"nodes", "slots", "info", "node_info"}
    # one breaker per backend plugin, plus per-node (redis-N) and management-API breakers
    assert set(body["security"]["circuit_breakers"]["services"]) >= set(PLUGINS)


def test_every_plugin_loaded_and_healthy(client: httpx.Client) -> None:
    plugins = {p["name"]: p for p in client.get("/plugins").json()["plugins"]}
    assert {name: plugin["status"] for name, plugin in plugins.items()} == dict.fromkeys(PLUGINS, "loaded")
    health = client.get("/health/all").json()
    unhealthy = {name: body for name, body in health["services"].items() if body["status"] != "healthy"}
    assert unhealthy == {}
    assert health["status"] == "healthy"
    assert client.get("/health/ready").status_code == 200


def test_a_day_in_the_life(client: httpx.Client) -> None:
    tag = uuid.uuid4().hex[:12]
    # secrets (masked)
    secret = client.get("/examples/vault/secret/postgres").json()
    assert secret["data"]["password"] == "***"
    # databases: insert, then list newest first
    for database in ("postgres", "mysql", "mongodb"):
        created = client.post(f"/examples/database/{database}", json={"key": f"e2e.{tag}", "value": {"n": 1}})
        assert created.status_code == 201, created.text
        listed = client.get(f"/examples/database/{database}", params={"limit": 50}).json()
        # newest first; other writers may have added records since (ordering is tested per plugin)
        assert f"e2e.{tag}" in [item["key"] for item in listed["items"]]
        assert client.get(f"/examples/database/{database}/query").status_code == 200
    # cache
    assert client.post(f"/examples/cache/e2e:{tag}", params={"value": "v", "ttl": 60}).json()["action"] == "set"
    assert client.get(f"/examples/cache/e2e:{tag}").json()["value"] == "v"
    found = client.get("/examples/cache/pattern/e2e:*", params={"limit": 1000}).json()
    assert f"e2e:{tag}" in found["keys"]
    assert client.delete(f"/examples/cache/e2e:{tag}").json()["deleted"] is True
    # messaging: publish, count, consume the same payload, count back to 0
    queue = f"e2e.{tag}"
    published = client.post("/examples/messaging/publish", params={"queue_name": queue}, json={"hello": tag})
    assert published.status_code == 200, published.text
    assert client.get(f"/examples/messaging/queue/{queue}/info").json()["message_count"] == 1
    consumed = client.post(f"/examples/messaging/consume/{queue}", params={"max": 10}).json()
    assert consumed["count"] == 1
    assert json.dumps(consumed["messages"][0]).find(tag) >= 0
    assert client.get(f"/examples/messaging/queue/{queue}/info").json()["message_count"] == 0
    # cluster
    assert client.get("/redis/cluster/info").json()["status"] == "success"
    # transit
    ciphertext = client.post("/examples/vault/transit/encrypt", json={"plaintext": f"hi {tag}"}).json()["ciphertext"]
    assert client.post("/examples/vault/transit/decrypt", json={"ciphertext": ciphertext}).json() == {
        "plaintext": f"hi {tag}"
    }


def test_metrics_label_by_route_template(client: httpx.Client) -> None:
    client.get("/examples/cache/some-key")
    text = client.get("/metrics").text
    assert 'endpoint="/examples/cache/{key}"' in text
    assert 'endpoint="/examples/cache/some-key"' not in text


def test_log_holds_no_credential_and_no_traceback(server: ServerProcess, client: httpx.Client) -> None:
    # error paths too: bad input, missing secret, unknown node
    client.get("/examples/vault/secret/does-not-exist")
    client.post("/examples/database/postgres", content=b"{broken", headers={"Content-Type": "application/json"})
    client.get("/redis/nodes/nope/info")
    log = server.log()
    assert '"request_id"' in log
    for value in seeded_credentials():
        assert value not in log, "a seeded credential reached the log"
    assert "Traceback" not in log
    for line in log.splitlines():
        if line.strip():
            json.loads(line)  # one JSON object per line


def test_dev_credentials_file_is_what_the_services_use() -> None:
    env_file = Path(os.environ.get("DEVSTACK_ENV_FILE", REPO / ".run" / "devstack.env"))
    assert env_file.is_file(), "run scripts/services.sh up first"
    text = env_file.read_text()
    assert all(value in text for value in seeded_credentials() if not value.startswith("root"))
