"""The RabbitMQ management HTTP API (port 15672): one async HTTP client per application."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

QUEUE_COLUMNS = "name,messages,consumers,durable"


class ManagementClient:
    """Reads queue statistics from the management plugin.

    Counts come from the broker's statistics database, refreshed every few seconds
    (``collect_statistics_interval``), so they can lag the queue by that much.
    """

    def __init__(self, base_url: str, timeout: float) -> None:
        self._client = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout)

    async def queues(self, vhost: str, auth: httpx.BasicAuth) -> list[dict[str, Any]]:
        """Every queue of ``vhost``: name, message and consumer counts, durability."""
        response = await self._client.get(
            f"/api/queues/{quote(vhost, safe='')}", params={"columns": QUEUE_COLUMNS}, auth=auth
        )
        response.raise_for_status()
        listed = response.json()
        if not isinstance(listed, list):
            raise ValueError("unexpected management API answer")
        return [
            {
                "name": str(entry.get("name", "")),
                "message_count": count(entry.get("messages")),
                "consumer_count": count(entry.get("consumers")),
                "durable": bool(entry.get("durable", False)),
            }
            for entry in listed
            if isinstance(entry, dict)
        ]

    async def aclose(self) -> None:
        await self._client.aclose()


def count(value: object) -> int | None:
    """A statistic, or None while the broker has not computed it yet."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None
