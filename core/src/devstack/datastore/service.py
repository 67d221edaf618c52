"""One database's pool in one application, and the guarded, measured calls made on it.

The pool is opened by a background task that retries with backoff, so an application
whose database (or secrets provider) is down still starts; until the pool exists calls
answer 503 and the health check says unhealthy. No Quart here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from devstack.datastore.records import CachedTotal, Page, Record
from devstack.datastore.store import Credentials, Datastore, PoolT
from devstack.foundation.errors import ServiceUnavailable
from devstack.kit.opener import BackgroundOpener
from devstack.kit.operation_metrics import OperationMetrics
from devstack.plugin_system.contributions import HealthBody, HealthCheck, health_body
from devstack.plugin_system.host import Host

T = TypeVar("T")


class DatastoreService(Generic[PoolT]):
    """The pool of one :class:`Datastore`, opened in the background and closed at shutdown."""

    def __init__(self, host: Host, store: Datastore[PoolT, Any]) -> None:
        self.host = host
        self.store = store
        self.name = store.name
        self.settings = store.settings
        self.log = logging.getLogger(f"devstack_{store.name}")
        self.metrics = OperationMetrics(store.name, store.product, pooled=store.measures_pool)
        self.total = CachedTotal(self.settings.count_cache_seconds)
        self.reached_server = False  # the last opening attempt got past the credentials
        self._opener: BackgroundOpener[PoolT] = BackgroundOpener(
            store.name,
            "pool",
            open=self._open,
            close=store.close_pool,
            discard=store.discard_pool if store.discards else None,
            timeout=self.settings.timeout,
            retry_max_wait=self.settings.retry_max_wait,
            on_open=lambda _pool: self._note_pool_size(),
        )

    # lifecycle ------------------------------------------------------------------------
    @property
    def pool(self) -> PoolT | None:
        """The open pool, or None while it is being opened."""
        return self._opener.client

    def start(self) -> None:
        """Open the pool in the background (returns at once)."""
        self._opener.start()
        self.host.opening(self.name, self._opener.first_attempt)

    async def stop(self) -> None:
        """Stop trying to open the pool and close it, within the timeout."""
        await self._opener.stop()
        self.metrics.pool_size(0)

    async def credentials(self) -> Credentials:
        """The secrets provider's answer (``secret/<secrets_service>`` in Vault), key by key,
        else the settings. Raises ``ServiceUnavailable`` when the provider is down."""
        settings = self.settings
        async with asyncio.timeout(settings.timeout):
            secret = await self.host.secrets(settings.secrets_service or self.name)
        answer = secret or {}
        return Credentials(
            user=answer.get("user") or settings.user,
            password=answer.get("password") or settings.password.get_secret_value(),
            database=answer.get("database") or settings.database,
            source="settings" if secret is None else "secrets",
        )

    async def _open(self) -> PoolT:
        self.reached_server = False
        credentials = await self.credentials()
        self.reached_server = True
        pool = await self.store.open_pool(credentials)
        try:
            await self.store.prepare(pool)
        except BaseException:
            await self.store.close_pool(pool, self.settings.timeout)
            raise
        return pool

    def _pool_size(self) -> int:
        pool = self.pool
        return self.store.pool_size(pool) if pool is not None else 0

    def _note_pool_size(self) -> None:
        if self.store.measures_pool:
            self.metrics.pool_size(self._pool_size())

    # calls ----------------------------------------------------------------------------
    async def call(self, operation: str, work: Callable[[PoolT], Awaitable[T]]) -> T:
        """``work(pool)`` inside core's guard (breaker, timeout, 503), measured."""
        async with self.metrics.measured(operation, self._pool_size if self.store.measures_pool else None):
            pool = self.pool
            if pool is None and not self.store.open_wait():
                raise self._not_connected()
            async with self.host.backend(self.name, self.settings.timeout):
                return await work(pool if pool is not None else await self._opened())

    async def _opened(self) -> PoolT:
        """The pool once it is open, waiting ``open_wait()`` seconds at most."""
        try:
            async with asyncio.timeout(self.store.open_wait()):
                await self._opener.opened.wait()
        except TimeoutError:
            raise self._not_connected() from None
        pool = self.pool
        if pool is None:
            raise self._not_connected()
        return pool

    def _not_connected(self) -> ServiceUnavailable:
        return ServiceUnavailable(self.name, self.store.not_connected or f"{self.store.product} is not connected")

    async def query(self) -> dict[str, Any]:
        return await self.call(self.store.query_operation, self.store.query)

    async def insert(self, key: str, value: Any) -> Record:
        """Store one record and return it as stored."""
        record = await self.call("insert", lambda pool: self.store.insert(pool, key, value))
        self.total.added()
        return record

    async def page(self, limit: int, offset: int) -> tuple[Page, int]:
        """A page of records newest first, and how many there are in all (counted at most
        once per ``count_cache_seconds``)."""
        recent = self.total.recent()
        page = await self.call("list", lambda pool: self.store.page(pool, limit, offset, recent is None))
        if page.total is None:
            return page, recent or 0
        self.total.counted(page.total)
        return page, page.total

    # health ---------------------------------------------------------------------------
    def health_check(self) -> HealthCheck:
        return HealthCheck(
            name=self.name,
            probe=self.probe,
            timeout=self.settings.timeout + 1.0,
            critical=True,
            description=self.store.health_description,
        )

    async def probe(self) -> HealthBody:
        """The server's version through the pool, bounded; a fixed sentence on failure."""
        store = self.store
        pool = self.pool
        if pool is None:
            return health_body(
                False, error=store.unhealthy if self.reached_server else store.not_ready or store.unhealthy
            )
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.settings.timeout):
                version = await store.version(pool)
        except TimeoutError:
            self.metrics.observe("health", "timeout", time.perf_counter() - started)
            return health_body(False, error=store.timed_out or store.unhealthy)
        except Exception as exc:  # noqa: BLE001 - any failure is "unhealthy", reported by type only
            self.log.warning(
                "%s health probe failed", self.name, extra={"service": self.name, "error_type": type(exc).__name__}
            )
            self.metrics.observe("health", "backend_error", time.perf_counter() - started)
            return health_body(False, error=store.unhealthy)
        self.metrics.observe("health", "ok", time.perf_counter() - started)
        self._note_pool_size()
        return health_body(True, version=version)
