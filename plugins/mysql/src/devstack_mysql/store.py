"""The MySQL driver: one aiomysql pool and the statements of the records routes.

Sessions run in UTC (``time_zone = '+00:00'``) so that ``created_at`` is a UTC instant.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import aiomysql

from devstack.api import PAGE_VALUE_BYTES, Credentials, Datastore, Page, Record, stored_json
from devstack_mysql.settings import MysqlSettings
from devstack_mysql.statements import COUNT, INSERT, NOW_QUERY, PAGE, SCHEMA
from devstack_mysql.values import check_storable


def iso_utc(moment: datetime) -> str:
    """A DATETIME read in a UTC session, as ISO 8601 with its offset."""
    return moment.replace(tzinfo=UTC).isoformat()


def record_of(row: Sequence[Any]) -> Record:
    """A ``devstack_records`` row as the API shows it (JSON arrives as text)."""
    record_id, key, value, created_at = row[:4]
    return {"id": int(record_id), "key": key, "value": json.loads(value), "created_at": iso_utc(created_at)}


@asynccontextmanager
async def borrowed(pool: aiomysql.Pool) -> AsyncIterator[aiomysql.Cursor]:
    """A cursor on a pooled connection. A connection whose call failed or was cut short
    (timeout, cancellation) may still have an answer on the wire: it is closed, never
    handed back for reuse."""
    conn = await pool.acquire()
    try:
        async with conn.cursor() as cursor:
            yield cursor
    except BaseException:
        conn.close()
        raise
    finally:
        pool.release(conn)


class MysqlStore(Datastore[aiomysql.Pool, MysqlSettings]):
    name = "mysql"
    product = "MySQL"
    settings_model = MysqlSettings
    health_description = "SELECT VERSION() on a pooled connection"
    discards = True

    async def open_pool(self, credentials: Credentials) -> aiomysql.Pool:
        settings = self.settings
        # Built directly rather than with aiomysql.create_pool, which loses the connections
        # it opened when it is cancelled or fails halfway: this pool is terminated instead.
        return aiomysql.Pool(
            minsize=settings.pool_min_size,
            maxsize=settings.pool_max_size,
            echo=False,
            pool_recycle=settings.pool_recycle,
            loop=asyncio.get_running_loop(),
            host=settings.host,
            port=settings.port,
            user=credentials.user,
            password=credentials.password,
            db=credentials.database,
            connect_timeout=settings.timeout,
            autocommit=True,
            charset="utf8mb4",
            init_command="SET time_zone = '+00:00'",
        )

    async def prepare(self, pool: aiomysql.Pool) -> None:
        # the first acquire opens the pool's min_size connections
        async with asyncio.timeout(self.settings.timeout * 2), borrowed(pool) as cursor:
            await cursor.execute("SET SESSION sql_notes = 0")  # no "already exists" warning
            await cursor.execute(SCHEMA)
            await cursor.execute("SET SESSION sql_notes = 1")

    async def close_pool(self, pool: aiomysql.Pool, timeout: float) -> None:
        pool.close()
        try:
            await asyncio.wait_for(pool.wait_closed(), timeout)
        except TimeoutError:
            pool.terminate()

    def discard_pool(self, pool: aiomysql.Pool) -> None:
        pool.terminate()

    def pool_size(self, pool: aiomysql.Pool) -> int:
        return int(pool.size)

    def check_value(self, value: Any) -> None:
        check_storable(value)

    async def query(self, pool: aiomysql.Pool) -> dict[str, Any]:
        async with borrowed(pool) as cursor:
            await cursor.execute(NOW_QUERY)
            (value,) = await cursor.fetchone()
        return {"query": NOW_QUERY, "result": str(value)}

    async def insert(self, pool: aiomysql.Pool, key: str, value: Any) -> Record:
        """Stamped with the time it was accepted (UTC, microseconds): one round trip, on
        MySQL as on MariaDB."""
        created_at = datetime.now(UTC).replace(tzinfo=None)
        async with borrowed(pool) as cursor:
            await cursor.execute(INSERT, (key, stored_json(value), created_at))
            record_id = int(cursor.lastrowid)
        return {"id": record_id, "key": key, "value": value, "created_at": iso_utc(created_at)}

    async def page(self, pool: aiomysql.Pool, limit: int, offset: int, count: bool) -> Page:
        total = None
        async with borrowed(pool) as cursor:
            await cursor.execute(PAGE, (limit, offset, PAGE_VALUE_BYTES))
            rows = await cursor.fetchall()
            if count:
                await cursor.execute(COUNT)
                (counted,) = await cursor.fetchone()
                total = int(counted)
        truncated = bool(rows) and len(rows) < int(rows[0][4])
        return Page([record_of(row) for row in rows], truncated, total)

    async def version(self, pool: aiomysql.Pool) -> str:
        async with borrowed(pool) as cursor:
            await cursor.execute("SELECT VERSION()")
            (version,) = await cursor.fetchone()
        return str(version)
