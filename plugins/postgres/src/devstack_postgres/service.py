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
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential_jitter

from devstack.api import HealthBody, Host, ServiceUnavailable, health_body
from devstack_postgres.metrics import PostgresMetrics
from devstack_postgres.settings import PostgresSettings

log = logging.getLogger("devstack_postgres")

SERVICE = "postgres"
NOW_QUERY = "SELECT current_timestamp"
UNHEALTHY = "PostgreSQL connection failed"

SCHEMA = """
CREATE TABLE IF NOT EXISTS devstack_records (
    id bigserial PRIMARY KEY,
    key varchar(100) NOT NULL,
    value jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS devstack_records_created_at ON devstack_records (created_at DESC, id DESC);
"""
INSERT = "INSERT INTO devstack_records (key, value) VALUES ($1, $2) RETURNING id, key, value, created_at"
PAGE = "SELECT id, key, value, created_at FROM devstack_records ORDER BY created_at DESC, id DESC LIMIT $1 OFFSET $2"
COUNT = "SELECT count(*) FROM devstack_records"


@dataclass(frozen=True)
class Credentials:
    user: str
    password: str
    database: str


def record_of(row: asyncpg.Record) -> dict[str, Any]:
    """A ``devstack_records`` row as the API shows it (jsonb arrives as JSON text)."""
    return {
        "id": row["id"],
        "key": row["key"],
        "value": json.loads(row["value"]),
        "created_at": row["created_at"].isoformat(),
    }


async def keep_session(conn: asyncpg.Connection) -> None:
    """The pool's reset on release: nothing to undo.

    The plugin never changes session state (no SET, LISTEN, advisory lock or cursor; every
    statement commits on its own), so the default reset query, a round trip on every
    release, is skipped. asyncpg still rolls back a transaction left open.
    """


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
        self.metrics = PostgresMetrics()
        self.pool: asyncpg.Pool | None = None
        self._opener: asyncio.Task[None] | None = None
        self._attempt: asyncio.Future[asyncpg.Pool] | None = None
        self._total: tuple[float, int] | None = None  # (monotonic time counted, records)

    # lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        """Open the pool in the background (returns at once)."""
        self._opener = asyncio.create_task(self._open_until_done(), name="devstack-postgres-pool")

    async def stop(self) -> None:
        """Stop trying to open the pool and close it, within the timeout."""
        if self._opener is not None:
            self._opener.cancel()
            await asyncio.wait([self._opener], timeout=self.settings.timeout)
            self._opener = None
        await self._settle_attempt()
        pool, self.pool = self.pool, None
        if pool is not None:
            await close_pool(pool, self.settings.timeout)
        self.metrics.pool_size(0)

    async def _settle_attempt(self) -> None:
        """Let an attempt to open the pool that is still running finish, and drop what it
        opened (cancelling it halfway would leave its connections to the garbage collector)."""
        attempt, self._attempt = self._attempt, None
        if attempt is None:
            return
        if not attempt.done():
            await asyncio.wait([attempt], timeout=self.settings.timeout * 2)
        if not attempt.done():
            attempt.cancel()
        elif not attempt.cancelled() and attempt.exception() is None and attempt.result() is not self.pool:
            attempt.result().terminate()

    async def _open_until_done(self) -> None:
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(Exception),
            wait=wait_exponential_jitter(multiplier=0.2, max=self.settings.retry_max_wait, jitter=0.5),
            before_sleep=self._log_retry,
        )
        async for attempt in retrying:
            with attempt:
                self._attempt = asyncio.ensure_future(self._open_pool())
                self.pool = await asyncio.shield(self._attempt)
        log.info("postgres pool open", extra={"service": SERVICE})
        self._record_pool_size()

    @staticmethod
    def _log_retry(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        log.warning(
            "postgres pool not open yet",
            extra={"service": SERVICE, "error_type": type(error).__name__, "attempt": state.attempt_number},
        )

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

    def _record_pool_size(self) -> None:
        pool = self.pool
        self.metrics.pool_size(pool.get_size() if pool is not None else 0)

    # calls ----------------------------------------------------------------------------
    @asynccontextmanager
    async def connection(self, operation: str) -> AsyncIterator[PoolConnectionProxy[asyncpg.Record]]:
        """A pooled connection inside core's guard (breaker, timeout, 503), measured."""
        started = time.perf_counter()
        result = "ok"
        try:
            pool = self.pool
            if pool is None:
                raise ServiceUnavailable(SERVICE, "PostgreSQL is not connected")
            async with self.host.backend(SERVICE, self.settings.timeout), pool.acquire() as conn:
                yield conn
        except ServiceUnavailable as exc:
            result = str((exc.details or {}).get("reason", "unavailable"))
            raise
        finally:
            self.metrics.observe(operation, result, time.perf_counter() - started)
            self._record_pool_size()

    async def now(self) -> str:
        """The server's ``current_timestamp`` as text."""
        async with self.connection("query") as conn:
            value = await conn.fetchval(NOW_QUERY)
        return str(value)

    async def insert(self, key: str, value: Any) -> dict[str, Any]:
        """Store one record and return it as stored."""
        async with self.connection("insert") as conn:
            row = await conn.fetchrow(INSERT, key, json.dumps(value))
        assert row is not None  # INSERT … RETURNING answers one row
        if self._total is not None:
            self._total = (self._total[0], self._total[1] + 1)
        return record_of(row)

    async def page(self, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
        """Records newest first, and how many there are in all.

        count(*) reads the whole table, so the total is reused for ``count_cache_seconds``
        (records stored through this service are added to it at once).
        """
        async with self.connection("list") as conn:
            rows = await conn.fetch(PAGE, limit, offset)
            total = self._recent_total()
            if total is None:
                total = int(await conn.fetchval(COUNT))
                self._total = (time.monotonic(), total)
        return [record_of(row) for row in rows], total

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
                version = await pool.fetchval("SELECT version()")
        except Exception as exc:  # noqa: BLE001 - any failure is "unhealthy", reported by type only
            log.warning("postgres health probe failed", extra={"service": SERVICE, "error_type": type(exc).__name__})
            self.metrics.observe("health", "backend_error", time.perf_counter() - started)
            return health_body(False, error=UNHEALTHY)
        self.metrics.observe("health", "ok", time.perf_counter() - started)
        self._record_pool_size()
        return health_body(True, version=str(version))
