"""Publishing with publisher confirms on the pooled robust channels, declaring queues once.

aio-pika's documented pooling pattern: an ``aio_pika.pool.Pool`` of robust channels with
publisher confirms, each channel used by one publish at a time. A publish returns once
the broker has confirmed it, so every 200 is a message the broker has.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict

from aio_pika.abc import AbstractRobustChannel
from aio_pika.pool import Pool
from aiormq.exceptions import ChannelInvalidStateError, ChannelLockedResource, ChannelPreconditionFailed, PublishError

from devstack.api import ServiceUnavailable
from devstack_rabbitmq.messages import OutgoingMessage, outgoing
from devstack_rabbitmq.service import (
    NOT_ESTABLISHED,
    NOT_OPEN_ERRORS,
    REOPEN_PAUSE,
    SERVICE,
    QueueConflict,
    RabbitMQService,
)


class Publisher:
    """Publishes to durable queues, remembering (a bounded number of) queues it declared."""

    def __init__(self, service: RabbitMQService) -> None:
        self._service = service
        self._declared: OrderedDict[str, None] = OrderedDict()

    async def publish(self, queue: str, body: bytes) -> None:
        """Publish a JSON body (see ``messages.encode_payload``) as a persistent message to a
        durable queue; returns once confirmed."""
        broker = self._service.broker
        if broker is None:
            raise ServiceUnavailable(SERVICE, NOT_ESTABLISHED)
        message = outgoing(body)
        if queue not in self._declared:
            await self.declare(queue)
        try:
            await self._publish_once(broker.channels, queue, message)
        except PublishError:
            # Returned as unroutable (mandatory): the queue was deleted since we declared it.
            self._declared.pop(queue, None)
            await self.declare(queue)
            await self._publish_once(broker.channels, queue, message)
        self._service.metrics.published()

    async def _publish_once(self, pool: Pool[AbstractRobustChannel], queue: str, message: OutgoingMessage) -> None:
        """Publish on a pooled confirm channel and wait for the broker's confirm.

        Failures before the message is handed to a channel (the connection is being
        re-established, a new pool channel cannot open yet) are retried; failures after
        that are not, because the broker may already have the message. The frame goes
        through the channel's aiormq channel (``basic_publish``), which is what aio-pika's
        ``Exchange.publish`` does, without building an ``aio_pika.Message`` per request.
        """
        while True:
            await self._service.reconnected()
            handed_over = False
            try:
                async with pool.acquire() as channel:
                    await channel.ready()  # after a reconnection: wait until aio-pika has reopened it
                    underlay = await channel.get_underlay_channel()
                    if channel.is_closed or underlay.is_closed:
                        raise ChannelInvalidStateError("channel closed before publishing")
                    handed_over = True
                    await underlay.basic_publish(
                        message.body, routing_key=queue, properties=message.properties, mandatory=True
                    )
                    return
            except NOT_OPEN_ERRORS:
                if handed_over:
                    raise
            await asyncio.sleep(REOPEN_PAUSE)

    async def declare(self, queue: str) -> None:
        """Declare ``queue`` durable (idempotent) and remember that it exists."""
        async with self._service.scratch_channel() as channel:
            try:
                await channel.queue_declare(queue, durable=True)
            except ChannelPreconditionFailed:
                raise QueueConflict(
                    f"Queue {queue!r} exists with different properties (durability, auto-delete or arguments)"
                ) from None
            except ChannelLockedResource:
                raise QueueConflict(f"Queue {queue!r} is exclusive to another connection") from None
        self._declared[queue] = None
        self._declared.move_to_end(queue)
        while len(self._declared) > self._service.settings.declared_cache_size:
            self._declared.popitem(last=False)
