"""Per-request resources are released: the queue operations that open a channel each
(queue info, consume, a failed passive declare, the health probe) leave nothing behind on
the long-lived connection.

Regression: with aio-pika 10.2 and aiormq >= 7.2 every ``aio_pika.Channel`` opened on the
robust connection left its close callback (and with it the channel, ~16 KiB) on the
connection for as long as it lived: RSS grew without bound under GET .../info load."""

from __future__ import annotations

import gc

from aio_pika.tools import OneShotCallback
from quart.testing import QuartClient


def callbacks_alive() -> int:
    gc.collect()
    return sum(1 for item in gc.get_objects() if isinstance(item, OneShotCallback))


async def test_queue_operations_leave_no_channel_behind(client: QuartClient, queue_name: str) -> None:
    response = await client.post("/examples/messaging/publish", query_string={"queue_name": queue_name}, json={"n": 0})
    assert response.status_code == 200

    async def round_trip() -> None:
        assert (await client.get(f"/examples/messaging/queue/{queue_name}/info")).status_code == 200
        assert (await client.get(f"/examples/messaging/queue/{queue_name}-missing/info")).status_code == 200
        assert (await client.post(f"/examples/messaging/consume/{queue_name}")).status_code == 200
        assert (await client.post(f"/examples/messaging/consume/{queue_name}-missing")).status_code == 404
        assert (await client.get("/health/rabbitmq")).status_code == 200

    for _ in range(5):
        await round_trip()
    before = callbacks_alive()
    for _ in range(100):
        await round_trip()
    assert callbacks_alive() - before < 10, "queue operations keep their channels alive"
