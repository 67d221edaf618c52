"""Walking the keyspace with SCAN: every primary of a cluster, or the one server."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

from redis.asyncio import RedisCluster
from redis.asyncio.cluster import ClusterNode

from devstack_redis.service import DataClient

GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")


def escape_glob(text: str) -> str:
    """``text`` matched literally by SCAN MATCH."""
    return GLOB_SPECIAL.sub(r"\\\1", text)


def as_bytes(value: bytes | str) -> bytes:
    """Replies are bytes (no decode_responses); the client's types also allow str."""
    return value if isinstance(value, bytes) else value.encode()


def plain_cursor(cursor: Any) -> int:
    """SCAN's next cursor; redis-py's cluster client wraps it as ``{node name: cursor}``."""
    if isinstance(cursor, dict):
        return int(next(iter(cursor.values()), 0))
    return int(cursor)


async def primaries(client: DataClient) -> list[ClusterNode | None]:
    """What to scan: every primary of the cluster, or ``[None]`` (the server itself)."""
    if isinstance(client, RedisCluster):
        await client.initialize()
        return list(client.get_primaries())
    return [None]


async def scan_batches(client: DataClient, match: str, count: int) -> AsyncGenerator[list[bytes], None]:
    """Each SCAN page's keys, primary after primary (a key can appear twice)."""
    for target in await primaries(client):
        cursor = 0
        while True:
            if target is None:
                reply = await client.scan(cursor, match=match, count=count)
            else:
                reply = await client.scan(cursor, match=match, count=count, target_nodes=target)
            cursor = plain_cursor(reply[0])
            yield [as_bytes(key) for key in reply[1]]
            if cursor == 0:
                break


async def find_keys(client: DataClient, match: str, limit: int, count: int, budget: float) -> tuple[list[bytes], bool]:
    """Up to ``limit`` distinct keys matching ``match``, and whether more remained.

    Scans until ``limit + 1`` keys are found, every primary is exhausted or ``budget``
    seconds have passed (then the answer is truncated: more may remain).
    """
    found: dict[bytes, None] = {}
    deadline = time.monotonic() + budget
    out_of_time = False
    async with aclosing(scan_batches(client, match, count)) as batches:
        async for batch in batches:
            if out_of_time:
                return list(found), True
            found.update(dict.fromkeys(batch))
            if len(found) > limit:
                return list(found)[:limit], True
            out_of_time = time.monotonic() >= deadline
    return list(found), False
