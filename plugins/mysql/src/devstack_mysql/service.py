"""The MySQL pool of one application and the queries the routes run on it.

The pool is opened by a background task that retries with backoff, so an application
whose database is down still starts; until the pool exists every call answers 503 and
the health check says unhealthy. Sessions run in UTC (``time_zone = '+00:00'``) so that
``created_at`` is a UTC instant. No Quart here.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiomysql

from devstack.api import BackgroundOpener, HealthBody, Host, PoolCallMetrics, ServiceUnavailable, health_body
from devstack_mysql.settings import MysqlSettings

log = logging.getLogger("devstack_mysql")

SERVICE = "mysql"
NOW_QUERY = "SELECT NOW()"
UNHEALTHY = "MySQL connection failed"

SCHEMA = """
CREATE TABLE IF NOT EXISTS devstack_records (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    `key` VARCHAR(100) NOT NULL,
    value JSON NOT NULL,
    created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    INDEX devstack_records_created_at (created_at, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
"""
INSERT = "INSERT INTO devstack_records (`key`, value, created_at) VALUES (%s, %s, %s)"
# A page stops before the record that would take its values past PAGE_VALUE_BYTES as
# stored (the first record is always answered); page_rows says how many LIMIT/OFFSET chose.
PAGE_VALUE_BYTES = 1 << 20
PAGE = """
SELECT id, `key`, value, created_at, page_rows FROM (
    SELECT id, `key`, value, created_at,
        SUM(LENGTH(value)) OVER (ORDER BY created_at DESC, id DESC ROWS UNBOUNDED PRECEDING) AS running_bytes,
        ROW_NUMBER() OVER (ORDER BY created_at DESC, id DESC) AS position,
        COUNT(*) OVER () AS page_rows
    FROM (
        SELECT id, `key`, value, created_at FROM devstack_records FORCE INDEX (devstack_records_created_at)
        ORDER BY created_at DESC, id DESC LIMIT %s OFFSET %s
    ) chosen
) sized
WHERE position = 1 OR running_bytes <= %s
ORDER BY created_at DESC, id DESC
"""
COUNT = "SELECT COUNT(*) FROM devstack_records"


@dataclass(frozen=True)
class Credentials:
    user: str
    password: str
    database: str


def iso_utc(moment: datetime) -> str:
    """A DATETIME read in a UTC session, as ISO 8601 with its offset."""
    return moment.replace(tzinfo=UTC).isoformat()


def record_of(row: Sequence[Any]) -> dict[str, Any]:
    """A ``devstack_records`` row as the API shows it (JSON arrives as text)."""
    record_id, key, value, created_at = row[:4]
    return {"id": int(record_id), "key": key, "value": json.loads(value), "created_at": iso_utc(created_at)}


def json_text(value: Any) -> str:
    """The text a value is stored as: compact, characters unescaped (at most 4x its body:
    Python writes 1e15 as 1000000000000000.0)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


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


async def close_pool(pool: aiomysql.Pool, timeout: float) -> None:
    """Close gracefully within ``timeout``, else drop the connections."""
    pool.close()
    try:
        await asyncio.wait_for(pool.wait_closed(), timeout)
    except TimeoutError:
        pool.terminate()


class MysqlService:
    """One aiomysql pool, opened in the background and closed at shutdown."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.settings = host.settings(MysqlSettings)
        self.metrics = PoolCallMetrics(SERVICE, "MySQL")
        self._opener: BackgroundOpener[aiomysql.Pool] = BackgroundOpener(
            SERVICE,
            "pool",
            open=self._open_pool,
            close=close_pool,
            discard=lambda pool: pool.terminate(),
            timeout=self.settings.timeout,
            retry_max_wait=self.settings.retry_max_wait,
            on_open=lambda _pool: self.metrics.pool_size(self._pool_size()),
        )
        self._total: tuple[float, int] | None = None  # (monotonic time counted, records)

    # lifecycle ------------------------------------------------------------------------
    @property
    def pool(self) -> aiomysql.Pool | None:
        """The open pool, or None while it is being opened (every call answers 503)."""
        return self._opener.client

    def start(self) -> None:
        """Open the pool in the background (returns at once)."""
        self._opener.start()
        self.host.opening(SERVICE, self._opener.first_attempt)

    async def stop(self) -> None:
        """Stop trying to open the pool and close it, within the timeout."""
        await self._opener.stop()
        self.metrics.pool_size(0)

    async def credentials(self) -> Credentials:
        """Vault's ``secret/mysql`` through core's secrets hook, else the settings."""
        secret = await self.host.secrets(SERVICE) or {}
        return Credentials(
            user=secret.get("user") or self.settings.user,
            password=secret.get("password") or self.settings.password.get_secret_value(),
            database=secret.get("database") or self.settings.database,
        )

    async def _open_pool(self) -> aiomysql.Pool:
        creds = await self.credentials()
        settings = self.settings
        # Built directly rather than with aiomysql.create_pool, which loses the connections
        # it opened when it is cancelled or fails halfway: this pool is terminated instead.
        pool = aiomysql.Pool(
            minsize=settings.pool_min_size,
            maxsize=settings.pool_max_size,
            echo=False,
            pool_recycle=settings.pool_recycle,
            loop=asyncio.get_running_loop(),
            host=settings.host,
            port=settings.port,
            user=creds.user,
            password=creds.password,
            db=creds.database,
            connect_timeout=settings.timeout,
            autocommit=True,
            charset="utf8mb4",
            init_command="SET time_zone = '+00:00'",
        )
        try:
            # the first acquire opens the pool's min_size connections
            async with asyncio.timeout(settings.timeout * 2), borrowed(pool) as cursor:
                await cursor.execute("SET SESSION sql_notes = 0")  # no "already exists" warning
                await cursor.execute(SCHEMA)
                await cursor.execute("SET SESSION sql_notes = 1")
        except Exception:
            await close_pool(pool, settings.timeout)
            raise
        return pool

    def _pool_size(self) -> int:
        pool = self.pool
        return int(pool.size) if pool is not None else 0

    # calls ----------------------------------------------------------------------------
    @asynccontextmanager
    async def cursor(self, operation: str) -> AsyncIterator[aiomysql.Cursor]:
        """A pooled cursor inside core's guard (breaker, timeout, 503), measured."""
        async with self.metrics.measured(operation, self._pool_size):
            pool = self.pool
            if pool is None:
                raise ServiceUnavailable(SERVICE, "MySQL is not connected")
            async with self.host.backend(SERVICE, self.settings.timeout), borrowed(pool) as cursor:
                yield cursor

    async def now(self) -> str:
        """The server's ``NOW()`` as text."""
        async with self.cursor("query") as cursor:
            await cursor.execute(NOW_QUERY)
            (value,) = await cursor.fetchone()
        return str(value)

    async def insert(self, key: str, value: Any) -> dict[str, Any]:
        """Store one record, stamped with the time it was accepted (UTC, microseconds), and
        return it: one round trip, on MySQL as on MariaDB."""
        created_at = datetime.now(UTC).replace(tzinfo=None)
        async with self.cursor("insert") as cursor:
            await cursor.execute(INSERT, (key, json_text(value), created_at))
            record_id = int(cursor.lastrowid)
        if self._total is not None:
            self._total = (self._total[0], self._total[1] + 1)
        return {"id": record_id, "key": key, "value": value, "created_at": iso_utc(created_at)}

    async def page(self, limit: int, offset: int) -> tuple[list[dict[str, Any]], int, bool]:
        """Records newest first, how many there are in all, and whether the page stopped
        before ``limit`` records because of PAGE_VALUE_BYTES.

        COUNT(*) reads the whole table, so the total is reused for ``count_cache_seconds``
        (records stored through this service are added to it at once).
        """
        async with self.cursor("list") as cursor:
            await cursor.execute(PAGE, (limit, offset, PAGE_VALUE_BYTES))
            rows = await cursor.fetchall()
            total = self._recent_total()
            if total is None:
                await cursor.execute(COUNT)
                (counted,) = await cursor.fetchone()
                total = int(counted)
                self._total = (time.monotonic(), total)
        truncated = bool(rows) and len(rows) < int(rows[0][4])
        return [record_of(row) for row in rows], total, truncated

    def _recent_total(self) -> int | None:
        if self._total is None or time.monotonic() - self._total[0] >= self.settings.count_cache_seconds:
            return None
        return self._total[1]

    # health ---------------------------------------------------------------------------
    async def probe(self) -> HealthBody:
        """``SELECT VERSION()`` through the pool, bounded; a fixed sentence on failure."""
        pool = self.pool
        if pool is None:
            return health_body(False, error=UNHEALTHY)
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.settings.timeout), borrowed(pool) as cursor:
                await cursor.execute("SELECT VERSION()")
                (version,) = await cursor.fetchone()
        except Exception as exc:  # noqa: BLE001 - any failure is "unhealthy", reported by type only
            log.warning("mysql health probe failed", extra={"service": SERVICE, "error_type": type(exc).__name__})
            self.metrics.observe("health", "backend_error", time.perf_counter() - started)
            return health_body(False, error=UNHEALTHY)
        self.metrics.observe("health", "ok", time.perf_counter() - started)
        self.metrics.pool_size(self._pool_size())
        return health_body(True, version=str(version))
