"""The PostgreSQL driver: one asyncpg pool and the statements of the records routes."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeAlias, TypeVar

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from devstack.api import PAGE_VALUE_BYTES, Credentials, Datastore, Page, Record, stored_json
from devstack_postgres.settings import PostgresSettings
from devstack_postgres.statements import COUNT, INSERT, NOW_QUERY, PAGE, SCHEMA

log = logging.getLogger("devstack_postgres")

T = TypeVar("T")
Connection: TypeAlias = "PoolConnectionProxy[asyncpg.Record]"
Work: TypeAlias = Callable[[Connection], Awaitable[T]]

# the connection was unusable before the statement left: safe to run anything again
STALE_UNSENT: tuple[type[Exception], ...] = (asyncpg.InterfaceError, asyncpg.InternalClientError)
# the connection dropped while the statement ran: safe to run idempotent work again
STALE_ANY = (*STALE_UNSENT, asyncpg.ConnectionDoesNotExistError)


async def keep_session(conn: asyncpg.Connection) -> None:
    """The pool's reset on release: nothing to undo.

    The plugin never changes session state (no SET, LISTEN, advisory lock or cursor; every
    statement commits on its own), so the default reset query, a round trip on every
    release, is skipped. asyncpg still rolls back a transaction left open.
    """


async def on_pooled_connection(pool: asyncpg.Pool, work: Work[T], stale: tuple[type[Exception], ...]) -> T:
    """``work`` on a connection of ``pool``; once more on another if the first one was stale.

    A connection the server ended while it sat idle in the pool (a restart, a
    ``pg_terminate_backend``) fails its next statement; asyncpg sometimes reports that as
    an internal state error and would hand the connection out again. Such a connection is
    terminated (the pool opens a fresh one) and ``work`` runs once more: always when
    nothing reached the server, for idempotent work also when the connection was lost
    mid-statement (``stale``).
    """
    try:
        return await on_one_connection(pool, work, stale)
    except stale as exc:
        log.info("postgres connection was stale; retrying on another", extra={"error_type": type(exc).__name__})
    return await on_one_connection(pool, work, stale)


async def on_one_connection(pool: asyncpg.Pool, work: Work[T], stale: tuple[type[Exception], ...]) -> T:
    async with pool.acquire() as conn:
        try:
            return await work(conn)
        except stale:
            conn.terminate()
            raise


def record_of(row: asyncpg.Record) -> Record:
    """A ``devstack_records`` row as the API shows it (json arrives as its text)."""
    return {
        "id": row["id"],
        "key": row["key"],
        "value": json.loads(row["value"]),
        "created_at": row["created_at"].isoformat(),
    }


class PostgresStore(Datastore[asyncpg.Pool, PostgresSettings]):
    name = "postgres"
    product = "PostgreSQL"
    settings_model = PostgresSettings
    health_description = "SELECT version() on a pooled connection"
    discards = True

    async def open_pool(self, credentials: Credentials) -> asyncpg.Pool:
        settings = self.settings
        async with asyncio.timeout(settings.timeout * 2):
            return await asyncpg.create_pool(
                host=settings.host,
                port=settings.port,
                user=credentials.user,
                password=credentials.password,
                database=credentials.database,
                min_size=settings.pool_min_size,
                max_size=settings.pool_max_size,
                timeout=settings.timeout,
                server_settings={"application_name": settings.application_name},
                reset=keep_session,
            )

    async def prepare(self, pool: asyncpg.Pool) -> None:
        async with asyncio.timeout(self.settings.timeout):
            await pool.execute(SCHEMA)

    async def close_pool(self, pool: asyncpg.Pool, timeout: float) -> None:
        try:
            await asyncio.wait_for(pool.close(), timeout)
        except TimeoutError:
            pool.terminate()

    def discard_pool(self, pool: asyncpg.Pool) -> None:
        pool.terminate()

    def pool_size(self, pool: asyncpg.Pool) -> int:
        return int(pool.get_size())

    async def query(self, pool: asyncpg.Pool) -> dict[str, Any]:
        value = await on_pooled_connection(pool, lambda conn: conn.fetchval(NOW_QUERY), STALE_ANY)
        return {"query": NOW_QUERY, "result": str(value)}

    async def insert(self, pool: asyncpg.Pool, key: str, value: Any) -> Record:
        text = stored_json(value)
        row = await on_pooled_connection(pool, lambda conn: conn.fetchrow(INSERT, key, text), STALE_UNSENT)
        assert row is not None  # INSERT … RETURNING answers one row
        return {"id": row["id"], "key": key, "value": value, "created_at": row["created_at"].isoformat()}

    async def page(self, pool: asyncpg.Pool, limit: int, offset: int, count: bool) -> Page:
        async def read(conn: Connection) -> tuple[list[asyncpg.Record], int | None]:
            rows = await conn.fetch(PAGE, limit, offset, PAGE_VALUE_BYTES)
            return rows, int(await conn.fetchval(COUNT)) if count else None

        rows, total = await on_pooled_connection(pool, read, STALE_ANY)
        truncated = bool(rows) and len(rows) < rows[0]["page_rows"]
        return Page([record_of(row) for row in rows], truncated, total)

    async def version(self, pool: asyncpg.Pool) -> str:
        return str(await on_pooled_connection(pool, lambda conn: conn.fetchval("SELECT version()"), STALE_ANY))
