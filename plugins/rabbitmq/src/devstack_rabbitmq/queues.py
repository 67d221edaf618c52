"""Reading queues: a queue's counts, consuming messages, the management API's list."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from aiormq.abc import DeliveredMessage
from aiormq.exceptions import ChannelLockedResource, ChannelNotFoundEntity

from devstack.api import NotFound, ServiceUnavailable
from devstack_rabbitmq.consuming import Batch, acknowledge, give_back, take
from devstack_rabbitmq.messages import consumed_message
from devstack_rabbitmq.service import MANAGEMENT_SERVICE, QueueConflict, RabbitMQService


@dataclass(frozen=True)
class QueueInfo:
    message_count: int | None
    consumer_count: int | None


def info_answer(queue: str, info: QueueInfo | None) -> dict[str, Any]:
    """The queue info answer; a queue that does not exist has no counts."""
    return {
        "queue": queue,
        "exists": info is not None,
        "message_count": info.message_count if info is not None else None,
        "consumer_count": info.consumer_count if info is not None else None,
    }


class Queues:
    """The queue operations of the routes, each on a channel of its own."""

    def __init__(self, service: RabbitMQService) -> None:
        self._service = service

    async def info(self, queue: str) -> QueueInfo | None:
        """Counts of an existing queue (None when it does not exist)."""
        async with self._service.scratch_channel() as channel:
            try:
                result = await channel.queue_declare(queue, passive=True)
            except ChannelNotFoundEntity:
                return None
            except ChannelLockedResource:
                return QueueInfo(None, None)
        return QueueInfo(int(result.message_count or 0), int(result.consumer_count or 0))

    async def consume(self, queue: str, limit: int, wait_ms: int) -> list[bytes]:
        """Take up to ``limit`` messages, render each for the answer, then acknowledge them.

        Waits at most ``wait_ms`` for the first message; returns as soon as the queue is
        empty after at least one, or once the bodies taken reach ``consume_max_bytes``. A
        queue that does not exist is a 404.

        Nothing is acknowledged before every message taken is rendered (rendering never
        fails, whatever the body), and the acknowledgement is the last step that can fail:
        on any failure before it, everything taken goes back to the queue (basic.nack with
        requeue, and closing the channel requeues whatever is still unacknowledged).
        """
        settings = self._service.settings
        batch = Batch(limit, settings.consume_max_bytes, wait_ms / 1000, settings.consume_poll_ms / 1000)
        channel = await self._service.open_scratch_channel()
        taken: list[DeliveredMessage] = []
        try:
            try:
                await channel.queue_declare(queue, passive=True)
                await take(channel, queue, batch, taken)
            except ChannelNotFoundEntity:
                raise NotFound(f"Queue {queue!r} does not exist") from None
            except ChannelLockedResource:
                raise QueueConflict(f"Queue {queue!r} is exclusive to another connection") from None
            rendered = [consumed_message(message) for message in taken]
            await acknowledge(channel, taken)
        except BaseException:
            await give_back(channel, taken)
            raise
        self._service.close_later(channel)
        self._service.metrics.consumed(len(taken))
        return rendered

    async def listed(self) -> tuple[str, list[dict[str, Any]]]:
        """``(vhost, queues)`` from the management API."""
        service = self._service
        if service.management is None:
            raise ServiceUnavailable(MANAGEMENT_SERVICE, "RabbitMQ management API client is not started")
        broker = service.broker
        credentials = broker.credentials if broker is not None else await service.resolve_credentials()
        user = service.settings.management_user or credentials.user
        secret = service.settings.management_password
        password = secret.get_secret_value() if secret is not None else credentials.password
        queues = await service.management.queues(credentials.vhost, httpx.BasicAuth(user, password))
        return credentials.vhost, sorted(queues, key=lambda entry: str(entry["name"]))
