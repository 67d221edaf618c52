"""The PostgreSQL pool of one application and the queries the routes run on it.

The pool is opened by a background task that retries with backoff, so an application
whose database is down still starts; until the pool exists every call answers 503 and
the health check says unhealthy. No Quart here.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeAlias, TypeVar

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from devstack.api import BackgroundOpener, HealthBody, Host, PoolCallMetrics, ServiceUnavailable, health_body
from devstack_postgres.settings import PostgresSettings
from devstack_postgres.statements import COUNT, INSERT, PAGE, PAGE_VALUE_BYTES, SCHEMA

log = logging.getLogger("devstack_postgres")

SERVICE = "postgres"
NOW_QUERY = "SELECT current_timestamp"
UNHEALTHY = "PostgreSQL connection failed"


T = TypeVar("T")
Connection: TypeAlias = "PoolConnectionProxy[asyncpg.Record]"
Work: TypeAlias = Callable[[Connection], Awaitable[T]]

# the connection was unusable before the statement left: safe to run anything again
STALE_UNSENT: tuple[type[Exception], ...] = (asyncpg.InterfaceError, asyncpg.InternalClientError)
# the connection dropped while the statement ran: safe to run idempotent work again
STALE_LOST: tuple[type[Exception], ...] = (asyncpg.ConnectionDoesNotExistError,)
STALE_ANY = STALE_UNSENT + STALE_LOST


@dataclass(frozen=True)
class Credentials:
    user: str
    password: str
    database: str


def record_of(row: asyncpg.Record) -> dict[str, Any]:
    """A ``devstack_records`` row as the API shows it (json arrives as its text)."""
    return {
        "id": row["id"],
        "key": row["key"],
        "value": json.loads(row["value"]),
        "created_at": row["created_at"].isoformat(),
    }


def json_text(value: Any) -> str:
    """The text a value is stored as: compact, characters unescaped (a number as Python
    writes the one core parsed: ``1e308`` stays ``1e+308``)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


async def keep_session(conn: asyncpg.Connection) -> None:
    """The pool's reset on release: nothing to undo.

    The plugin never changes session state (no SET, LISTEN, advisory lock or cursor; every
    statement commits on its own), so the default reset query, a round trip on every
    release, is skipped. asyncpg still rolls back a transaction left open.
    """


async def on_pooled_connection(
    pool: asyncpg.Pool, work: Work[T], stale: tuple[type[Exception], ...], operation: str
) -> T:
    """``work`` on a connection of ``pool``; once more on another if the first one was
    stale (failed with one of the ``stale`` errors)."""
    try:
        return await on_one_connection(pool, work, stale)
    except stale as exc:
        log.info(
            "postgres connection was stale; retrying on another",
            extra={"service": SERVICE, "operation": operation, "error_type": type(exc).__name__},
        )
    return await on_one_connection(pool, work, stale)


async def on_one_connection(pool: asyncpg.Pool, work: Work[T], stale: tuple[type[Exception], ...]) -> T:
    """``work`` on one pooled connection. One that fails with a ``stale`` error is
    terminated, so that the pool opens a fresh one instead of lending it again."""
    async with pool.acquire() as conn:
        try:
            return await work(conn)
        except stale:
            conn.terminate()
            raise


async def close_pool(pool: asyncpg.Pool, timeout: float) -> None:
    """Close gracefully within ``timeout``, else drop the connections."""
    try:
        await asyncio.wait_for(pool.close(), timeout)
    except TimeoutError:
        pool.terminate()


class PostgresService:
    """One asyncpg pool, opened in the background and closed at shutdown."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.settings = host.settings(PostgresSettings)
        self.metrics = PoolCallMetrics(SERVICE, "PostgreSQL")
        self._opener: BackgroundOpener[asyncpg.Pool] = BackgroundOpener(
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
    def pool(self) -> asyncpg.Pool | None:
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
        """Vault's ``secret/postgres`` through core's secrets hook, else the settings."""
        secret = await self.host.secrets(SERVICE) or {}
        return Credentials(
            user=secret.get("user") or self.settings.user,
            password=secret.get("password") or self.settings.password.get_secret_value(),
            database=secret.get("database") or self.settings.db,
        )

    async def _open_pool(self) -> asyncpg.Pool:
        creds = await self.credentials()
        settings = self.settings
        async with asyncio.timeout(settings.timeout * 2):
            pool = await asyncpg.create_pool(
                host=settings.host,
                port=settings.port,
                user=creds.user,
                password=creds.password,
                database=creds.database,
                min_size=settings.pool_min_size,
                max_size=settings.pool_max_size,
                timeout=settings.timeout,
                server_settings={"application_name": settings.application_name},
                reset=keep_session,
            )
        try:
            async with asyncio.timeout(settings.timeout):
                await pool.execute(SCHEMA)
        except Exception:
            await close_pool(pool, settings.timeout)
            raise
        return pool

    def _pool_size(self) -> int:
        pool = self.pool
        return int(pool.get_size()) if pool is not None else 0

    # calls ----------------------------------------------------------------------------
    async def call(self, operation: str, work: Work[T], *, idempotent: bool) -> T:
        """Run ``work`` on a pooled connection inside core's guard (breaker, timeout,
        503), measured.

        A connection the server ended while it sat idle in the pool (a restart, a
        ``pg_terminate_backend``) fails its next statement; asyncpg sometimes reports
        that as an internal state error and would hand the connection out again. Such a
        connection is terminated (the pool opens a fresh one in its place) and ``work``
        runs once more on another: always when nothing reached the server, and for
        idempotent work also when the connection was lost mid-statement.
        """
        async with self.metrics.measured(operation, self._pool_size):
            pool = self.pool
            if pool is None:
                raise ServiceUnavailable(SERVICE, "PostgreSQL is not connected")
            retry_on = STALE_ANY if idempotent else STALE_UNSENT
            async with self.host.backend(SERVICE, self.settings.timeout):
                return await on_pooled_connection(pool, work, retry_on, operation)

    async def now(self) -> str:
        """The server's ``current_timestamp`` as text."""
        value = await self.call("query", lambda conn: conn.fetchval(NOW_QUERY), idempotent=True)
        return str(value)

    async def insert(self, key: str, value: Any) -> dict[str, Any]:
        """Store one record and return it as stored (its text reads back as ``value``)."""
        text = json_text(value)
        row = await self.call("insert", lambda conn: conn.fetchrow(INSERT, key, text), idempotent=False)
        assert row is not None  # INSERT … RETURNING answers one row
        if self._total is not None:
            self._total = (self._total[0], self._total[1] + 1)
        return {"id": row["id"], "key": key, "value": value, "created_at": row["created_at"].isoformat()}

    async def page(self, limit: int, offset: int) -> tuple[list[dict[str, Any]], int, bool]:
        """Records newest first, how many there are in all, and whether the page stopped
        before ``limit`` records because of PAGE_VALUE_BYTES.

        count(*) reads the whole table, so the total is reused for ``count_cache_seconds``
        (records stored through this service are added to it at once).
        """

        async def read(conn: Connection) -> tuple[list[asyncpg.Record], int]:
            rows = await conn.fetch(PAGE, limit, offset, PAGE_VALUE_BYTES)
            total = self._recent_total()
            if total is None:
                total = int(await conn.fetchval(COUNT))
                self._total = (time.monotonic(), total)
            return rows, total

        rows, total = await self.call("list", read, idempotent=True)
        truncated = bool(rows) and len(rows) < rows[0]["page_rows"]
        return [record_of(row) for row in rows], total, truncated

    def _recent_total(self) -> int | None:
        if self._total is None or time.monotonic() - self._total[0] >= self.settings.count_cache_seconds:
            return None
        return self._total[1]

    # health ---------------------------------------------------------------------------
    async def probe(self) -> HealthBody:
        """``SELECT version()`` through the pool, bounded; a fixed sentence on failure."""
        pool = self.pool
        if pool is None:
            return health_body(False, error=UNHEALTHY)
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.settings.timeout):
                version = await on_pooled_connection(
                    pool, lambda conn: conn.fetchval("SELECT version()"), STALE_ANY, "health"
                )
        except Exception as exc:  # noqa: BLE001 - any failure is "unhealthy", reported by type only
            log.warning("postgres health probe failed", extra={"service": SERVICE, "error_type": type(exc).__name__})
            self.metrics.observe("health", "backend_error", time.perf_counter() - started)
            return health_body(False, error=UNHEALTHY)
        self.metrics.observe("health", "ok", time.perf_counter() - started)
        self.metrics.pool_size(self._pool_size())
        return health_body(True, version=str(version))
