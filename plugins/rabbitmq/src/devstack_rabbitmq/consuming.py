"""Taking messages from a queue with basic.get, and giving them back when a consume fails."""

from __future__ import annotations

import asyncio
import time
from contextlib import suppress
from dataclasses import dataclass

import aiormq
from aiormq.abc import AbstractChannel, DeliveredMessage


@dataclass(frozen=True)
class Batch:
    """How much one consume takes: at most ``limit`` messages, and it stops taking once
    the bodies reach ``max_bytes``; it waits at most ``wait_s`` for a first message,
    polling every ``poll_s``."""

    limit: int
    max_bytes: int
    wait_s: float
    poll_s: float


async def take(channel: AbstractChannel, queue: str, batch: Batch, taken: list[DeliveredMessage]) -> None:
    """Append messages to ``taken`` (the caller's list, so that the caller can give back
    what was taken when this is interrupted) until the batch is full or the queue is empty
    (after the wait, when nothing was taken yet)."""
    deadline = time.monotonic() + batch.wait_s
    size = 0
    while len(taken) < batch.limit and size < batch.max_bytes:
        delivered = await channel.basic_get(queue, no_ack=False)
        if not isinstance(delivered.delivery, aiormq.spec.Basic.GetEmpty):
            taken.append(delivered)
            size += len(delivered.body)
            continue
        remaining = deadline - time.monotonic()
        if taken or remaining <= 0:
            return
        await asyncio.sleep(min(batch.poll_s, remaining))


async def acknowledge(channel: AbstractChannel, taken: list[DeliveredMessage]) -> None:
    """Acknowledge everything taken on ``channel``, without waiting for the write: once the
    frame is queued it goes out even if the request is cancelled now, so no answer can
    say 503 for messages that were acknowledged."""
    if taken:
        await channel.basic_ack(taken[-1].delivery_tag or 0, multiple=True, wait=False)


async def give_back(channel: AbstractChannel, taken: list[DeliveredMessage]) -> None:
    """Requeue everything taken on ``channel`` and close it (best effort: a channel or a
    connection that is gone has returned the messages to the queue already)."""
    if taken and not channel.is_closed:
        with suppress(Exception):
            await channel.basic_nack(taken[-1].delivery_tag or 0, multiple=True, requeue=True, wait=False)
    if not channel.is_closed:
        with suppress(Exception):
            await channel.close()
