"""The cluster of the multi-instance test, shared by its tests (see test_scale.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ..support import delete_queue, http_json, server_env, services_env, unique
from .cluster import HOST_HEADER, SHUTDOWN_DELAY, HAProxy, Instance, program, start_all
from .load import Addresses, Load, mix
from .monitoring import Prometheus

RATE_LIMIT = 100
RATE_LIMIT_STORAGE = "redis://127.0.0.1:6379/4"  # a database of its own on the local Redis


@dataclass
class Cluster:
    instances: list[Instance]
    haproxy: HAProxy
    prometheus: Prometheus
    secret: str  # read by the load (through the shared cache)
    cache_key: str
    queues: list[str] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)
    addresses: Addresses = field(default_factory=lambda: Addresses(20))

    def new_queue(self) -> str:
        self.queues.append(unique("scale-load-"))
        return self.queues[-1]

    def load(self, queue: str, workers: int = 16) -> Load:
        return Load(self.haproxy.url, mix(self.secret, queue, self.cache_key), self.addresses, workers)

    def queued(self, queue: str) -> int:
        status, body = http_json("GET", f"{self.instances[0].url}/examples/messaging/queue/{queue}/info")
        assert status == 200, body
        return int(body["message_count"])


def write_secret(instance: Instance, name: str, data: dict[str, str]) -> int:
    status, body = http_json("POST", f"{instance.url}/examples/vault/secret/{name}", data)
    assert status == 200, body
    return int(body["version"])


def delete_secrets(names: list[str]) -> None:
    import hvac

    env = services_env()
    client = hvac.Client(url=env["VAULT_ADDR"], token=env["VAULT_TOKEN"])
    for name in names:
        client.secrets.kv.v2.delete_metadata_and_all_versions(path=name, mount_point="secret")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    program("haproxy")
    program("prometheus")
    directory: Path = tmp_path_factory.mktemp("scale")
    prefix = unique("devstack-scale-")
    env = server_env(
        DEVSTACK_RATE_LIMIT_ENABLED="true",
        DEVSTACK_RATE_LIMIT_GENERAL=f"{RATE_LIMIT}/minute",
        DEVSTACK_RATE_LIMIT_STORAGE=RATE_LIMIT_STORAGE,
        DEVSTACK_RATE_LIMIT_KEY_PREFIX=prefix,
        DEVSTACK_TRUSTED_PROXIES="127.0.0.1",  # HAProxy's address towards the instances
        DEVSTACK_ALLOWED_HOSTS=f"{HOST_HEADER},127.0.0.1",
        DEVSTACK_SHUTDOWN_DELAY=str(SHUTDOWN_DELAY),
        DEVSTACK_SHUTDOWN_GRACE="10",
        DEVSTACK_LOG_LEVEL="WARNING",
    )  # one REDIS_KEY_PREFIX for the three: they share the response cache
    instances = [Instance(f"i{number}", env) for number in (1, 2, 3)]
    haproxy = HAProxy(directory, instances)
    prometheus = Prometheus(directory, instances)
    secret = unique("scale-read-")
    built = Cluster(instances, haproxy, prometheus, secret, unique("scale-"), secrets=[secret])
    try:
        started = time.monotonic()
        start_all(instances)
        print(
            f"\n[scale] three instances ready in {time.monotonic() - started:.1f}s, ports {[i.port for i in instances]}"
        )
        haproxy.start()
        prometheus.start()
        write_secret(instances[0], secret, {"greeting": "hello"})
        yield built
    finally:
        prometheus.stop()
        haproxy.stop()
        for instance in instances:
            instance.stop()
        delete_queue(*built.queues)
        delete_secrets(built.secrets)
