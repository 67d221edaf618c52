"""Test helpers of the rabbitmq plugin: its settings, the management API, a direct AMQP client,
a TCP relay standing in for a broker that goes away (the rest is in devstack.testkit)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import aio_pika
import httpx
import pytest
from aio_pika.abc import AbstractRobustConnection

REQUIRED = (
    "RABBITMQ_HOST",
    "RABBITMQ_PORT",
    "RABBITMQ_USER",
    "RABBITMQ_PASSWORD",
    "RABBITMQ_VHOST",
    "RABBITMQ_MANAGEMENT_URL",
)


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


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


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
