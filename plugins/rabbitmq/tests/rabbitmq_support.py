"""Test helpers: settings, the management API, the served contract, a direct AMQP client."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import aio_pika
import httpx
import pytest
from aio_pika.abc import AbstractRobustConnection
from jsonschema import Draft202012Validator
from quart.testing import QuartClient

REQUIRED = (
    "RABBITMQ_HOST",
    "RABBITMQ_PORT",
    "RABBITMQ_USER",
    "RABBITMQ_PASSWORD",
    "RABBITMQ_VHOST",
    "RABBITMQ_MANAGEMENT_URL",
)


async def response_schema(client: QuartClient, path: str, method: str, status: int) -> dict[str, Any]:
    """The JSON schema the served /openapi.json gives for one answer, $refs resolvable."""
    document = await (await client.get("/openapi.json")).get_json()
    answer = document["paths"][path][method.lower()]["responses"][str(status)]
    if "$ref" in answer:
        answer = document["components"]["responses"][answer["$ref"].rsplit("/", 1)[1]]
    schema = answer["content"]["application/json"]["schema"]
    # Local "#/components/..." references resolve against this root.
    return {"allOf": [schema], "components": document["components"]}


async def assert_matches(client: QuartClient, path: str, method: str, status: int, body: Any) -> None:
    schema = await response_schema(client, path, method, status)
    errors = [error.message for error in Draft202012Validator(schema).iter_errors(body)]
    assert not errors, f"{method} {path} {status}: body does not match the contract: {errors}"


def assert_envelope(body: Mapping[str, Any], status: int, error: str) -> None:
    assert body["status_code"] == status
    assert body["error"] == error
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["request_id"], str) and body["request_id"]


async def direct_connection(settings: Mapping[str, str]) -> AbstractRobustConnection:
    """The test's own AMQP connection (as another application would have)."""
    return await aio_pika.connect_robust(
        host=settings["RABBITMQ_HOST"],
        port=int(settings["RABBITMQ_PORT"]),
        login=settings["RABBITMQ_USER"],
        password=settings["RABBITMQ_PASSWORD"],
        virtualhost=settings["RABBITMQ_VHOST"],
        client_properties={"connection_name": "devstack-test-direct"},
    )


def require_env(*names: str) -> dict[str, str]:
    """The named variables; a missing one fails the test (tests never skip)."""
    missing = [name for name in names if not os.environ.get(name)]
    if missing:
        pytest.fail(f"missing {', '.join(missing)}: run scripts/services.sh up and source .run/devstack.env")
    return {name: os.environ[name] for name in names}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


async def wait_healthy(client: QuartClient, timeout: float = 20.0) -> dict[str, Any]:
    """Poll GET /health/rabbitmq until healthy; fail with the last body otherwise."""
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = await client.get("/health/rabbitmq")
        assert response.status_code == 200
        body = await response.get_json()
        if body == {"status": "healthy"}:
            return body
        await asyncio.sleep(0.1)
    pytest.fail(f"rabbitmq did not become healthy within {timeout}s: {body}")


class Management:
    """The test's own view of the broker through the management API."""

    def __init__(self, settings: Mapping[str, str]) -> None:
        self.vhost = settings["RABBITMQ_VHOST"]
        self.http = httpx.AsyncClient(
            base_url=settings["RABBITMQ_MANAGEMENT_URL"],
            auth=(settings["RABBITMQ_USER"], settings["RABBITMQ_PASSWORD"]),
            timeout=10,
        )

    def queue_path(self, queue: str) -> str:
        return f"/api/queues/{quote(self.vhost, safe='')}/{quote(queue, safe='')}"

    async def delete_queue(self, queue: str) -> None:
        response = await self.http.delete(self.queue_path(queue))
        assert response.status_code in (204, 404)

    async def connections_named(self, connection_name: str) -> list[dict[str, Any]]:
        response = await self.http.get("/api/connections", params={"columns": "name,client_properties,vhost"})
        response.raise_for_status()
        return [
            entry
            for entry in response.json()
            if (entry.get("client_properties") or {}).get("connection_name") == connection_name
        ]

    async def wait_connection(self, connection_name: str, exclude: set[str], timeout: float = 20.0) -> str:
        """The broker-side name of a connection with this client name that is not in ``exclude``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for entry in await self.connections_named(connection_name):
                if entry["name"] not in exclude:
                    return str(entry["name"])
            await asyncio.sleep(0.2)
        pytest.fail(f"no new broker connection named {connection_name!r} within {timeout}s")

    async def close_connection(self, name: str) -> None:
        response = await self.http.delete(
            f"/api/connections/{quote(name, safe='')}", headers={"X-Reason": "devstack test"}
        )
        assert response.status_code == 204


class TcpProxy:
    """A plain TCP relay in front of the real broker, to take "the broker" away and bring
    it back without touching the shared broker: ``stop()`` closes the listener and every
    relayed connection (what clients see when a broker goes down), ``start()`` listens
    again on the same port (the broker is back)."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None
        for writer in list(self.writers):
            writer.transport.abort()
        self.writers.clear()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self.writers.update((writer, upstream_writer))

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except OSError:
                pass
            finally:
                sink.transport.abort()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))
        self.writers.difference_update((writer, upstream_writer))
