"""The MongoDB client of one application and every call the routes make (no Quart here).

One ``AsyncMongoClient`` (one connection pool, ``minPoolSize``/``maxPoolSize`` from the
settings) per application. It is created by a background task started at startup, which
asks the secrets provider for credentials and makes sure the records collection and its
``created_at`` index exist, retrying with backoff while Vault or MongoDB is down: the API
serves meanwhile, calls answer 503 and the health check says unhealthy. The driver
reconnects by itself after a server restart or a killed connection.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any, TypeVar

from pymongo import DESCENDING, AsyncMongoClient
from pymongo.asynchronous.cursor import AsyncCursor
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import CollectionInvalid, PyMongoError

from devstack.api import Host, ServiceUnavailable
from devstack_mongodb.credentials import Credentials, resolve
from devstack_mongodb.metrics import MongoMetrics
from devstack_mongodb.records import PAGE_VALUE_BYTES, Record, from_document, new_document, now, stored_bytes
from devstack_mongodb.settings import MongoSettings

log = logging.getLogger("devstack.mongodb")

SERVICE = "mongodb"
"""The name of the circuit breaker, of the 503's ``details.service`` and of the health check."""

RETRY_FIRST = 0.5
RETRY_MAX = 5.0
CLOSE_TIMEOUT = 3.0
PROJECTION = {"key": 1, "value_json": 1, "created_at": 1}
NEWEST_FIRST = [("created_at", DESCENDING), ("_id", DESCENDING)]
INDEX_NAME = "created_at_desc_id_desc"

Document = dict[str, Any]
T = TypeVar("T")


# documents fetched per round trip of a page: a page reads little past its byte budget
PAGE_BATCH = 16


async def within_page(cursor: AsyncCursor[Document]) -> tuple[list[Document], bool]:
    """The cursor's documents up to PAGE_VALUE_BYTES of values (at least one), and
    whether any were left unread."""
    taken: list[Document] = []
    used = 0
    async with cursor:
        async for document in cursor:
            used += stored_bytes(document)
            if taken and used > PAGE_VALUE_BYTES:
                return taken, True
            taken.append(document)
    return taken, False


class NotReady(Exception):
    """The background set-up has not finished: no client yet, or the collection not ensured."""


class MongoService:
    """The client, its background setup, and the calls the routes and the health check make."""

    def __init__(self, host: Host, settings: MongoSettings) -> None:
        self.host = host
        self.settings = settings
        self.metrics: MongoMetrics | None = None
        self._client: AsyncMongoClient[Document] | None = None
        self._database_name = settings.database
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._first_attempt = asyncio.Event()  # set once the first setup attempt settled
        self._stopping = False

    @property
    def ready(self) -> bool:
        """The client exists and the records collection and its index are ensured."""
        return self._ready.is_set()

    # lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        """Start the background setup; never waits for MongoDB or Vault."""
        if self._task is None:
            self._task = asyncio.create_task(self._set_up(), name="devstack-mongodb-setup")
            self.host.opening(SERVICE, self._first_attempt)

    async def stop(self) -> None:
        """Stop the setup task and close the pool (bounded in time)."""
        self._stopping = True
        task, self._task = self._task, None
        if task is not None:
            # a cancellation can be swallowed inside the driver (asyncio.wait_for in
            # Python 3.11): cancel again while the task lives, a bounded number of times
            for _ in range(3):
                task.cancel()
                done, _pending = await asyncio.wait({task}, timeout=CLOSE_TIMEOUT / 3)
                if done:
                    break
        client, self._client = self._client, None
        if client is not None:
            try:
                async with asyncio.timeout(CLOSE_TIMEOUT):
                    await client.close()
            except Exception as exc:  # noqa: BLE001 - shutting down anyway
                log.warning("closing the MongoDB client failed", extra={"error_type": type(exc).__name__})

    async def _set_up(self) -> None:
        delay = RETRY_FIRST
        while not self._stopping:
            try:
                if self._client is None:
                    async with asyncio.timeout(self.settings.timeout):
                        credentials = await resolve(self.host, self.settings)
                    self._client = self._new_client(credentials)
                    self._database_name = credentials.database
                    log.info("MongoDB client created", extra={"source": credentials.source})
                async with asyncio.timeout(self.settings.timeout):
                    await self._ensure_collection()
                self._ready.set()
                log.info("MongoDB records collection ready", extra={"collection": self.settings.collection})
                return
            except Exception as exc:  # noqa: BLE001 - retried until the backend is back
                if self._stopping:
                    return
                log.warning(
                    "MongoDB setup failed; retrying",
                    extra={"error_type": type(exc).__name__, "retry_in_s": delay},
                )
            finally:
                self._first_attempt.set()
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX)

    def _new_client(self, credentials: Credentials) -> AsyncMongoClient[Document]:
        settings = self.settings
        auth: dict[str, Any] = {}
        if credentials.authenticates:
            auth = {
                "username": credentials.user,
                "password": credentials.password,
                "authSource": settings.auth_source or credentials.database,
            }
        return AsyncMongoClient(
            host=settings.host,
            port=settings.port,
            minPoolSize=settings.min_pool_size,
            maxPoolSize=settings.max_pool_size,
            # not timeoutMS: with it the driver ignores serverSelectionTimeoutMS, and a
            # server that is down would hold every call for the whole timeout
            socketTimeoutMS=int(settings.timeout * 1000),
            serverSelectionTimeoutMS=int(settings.server_selection_timeout * 1000),
            connectTimeoutMS=int(settings.connect_timeout * 1000),
            tz_aware=True,
            appname="devstack-mongodb",
            **auth,
        )

    async def _ensure_collection(self) -> None:
        database = self._database()
        name = self.settings.collection
        if name not in await database.list_collection_names(filter={"name": name}):
            with suppress(CollectionInvalid):  # created meanwhile by another worker
                await database.create_collection(name)
        await database[name].create_index(NEWEST_FIRST, name=INDEX_NAME)

    def _database(self) -> AsyncDatabase[Document]:
        if self._client is None:
            raise NotReady
        return self._client[self._database_name]

    async def _ready_database(self) -> AsyncDatabase[Document]:
        """The database once the set-up has finished, waiting for it a little at most.

        No call runs before the records collection exists: an insert racing the
        collection's creation deadlocks some servers (SecantusDB 0.7 with its oplog on),
        and it would create the collection without its index anyway.
        """
        if not self._ready.is_set():
            try:
                # creating the collection and its index can take seconds on a busy server:
                # wait for it within the call's own timeout rather than server selection's
                wait = max(self.settings.server_selection_timeout, self.settings.timeout - 0.5)
                async with asyncio.timeout(wait):
                    await self._ready.wait()
            except TimeoutError:
                raise NotReady from None
        return self._database()

    # guarded calls --------------------------------------------------------------------
    async def _run(self, operation: str, call: Callable[[AsyncDatabase[Document]], Awaitable[T]]) -> T:
        """One backend call under core's guard (breaker, timeout, 503), counted in metrics."""
        started = time.perf_counter()
        result = "success"
        try:
            async with self.host.backend(SERVICE, timeout=self.settings.timeout):
                try:
                    database = await self._ready_database()
                except NotReady:
                    raise ServiceUnavailable(SERVICE, "MongoDB is not ready yet") from None
                return await call(database)
        except ServiceUnavailable as exc:
            result = str((exc.details or {}).get("reason", "unavailable"))
            raise
        finally:
            if self.metrics is not None:
                self.metrics.observe(operation, result, time.perf_counter() - started)

    async def collection_names(self) -> list[str]:
        """Names of the collections of the database, sorted."""
        names = await self._run("list_collections", lambda db: db.list_collection_names())
        return sorted(names)

    async def insert(self, key: str, value: Any) -> Record:
        """Store one record; raises ``UnstorableValue`` (before any call) for a value without exact JSON."""
        document = new_document(key, value, now())
        inserted = await self._run("insert", lambda db: db[self.settings.collection].insert_one(document))
        return Record(id=str(inserted.inserted_id), key=key, value=value, created_at=document["created_at"])

    async def list_records(self, limit: int, offset: int) -> tuple[list[Record], int, bool]:
        """One page of records, newest first, how many records there are in all, and
        whether the page stopped before ``limit`` records because of PAGE_VALUE_BYTES.

        ``limit`` and ``offset`` are validated integers; the filter is the fixed ``{}``.
        """

        async def fetch(db: AsyncDatabase[Document]) -> tuple[tuple[list[Document], bool], int]:
            collection = db[self.settings.collection]
            cursor = collection.find({}, PROJECTION).sort(NEWEST_FIRST).skip(offset).limit(limit)
            # the whole collection is counted: estimatedDocumentCount reads the collection's
            # metadata instead of scanning every document (count_documents({}) would)
            return await asyncio.gather(
                within_page(cursor.batch_size(PAGE_BATCH)), collection.estimated_document_count()
            )

        (documents, truncated), total = await self._run("list", fetch)
        return [record for record in map(from_document, documents) if record is not None], total, truncated

    # health ---------------------------------------------------------------------------
    async def server_version(self) -> str:
        """The server's version, asked through the pool (raises when unreachable)."""
        started = time.perf_counter()
        result = "success"
        try:
            info = await self._database().client.admin.command("buildInfo")
            return str(info.get("version", "unknown"))
        except BaseException as exc:
            result = outcome_of(exc)
            raise
        finally:
            if self.metrics is not None:
                self.metrics.observe("health", result, time.perf_counter() - started)


def outcome_of(exc: BaseException) -> str:
    """The metrics ``result`` of a failed call made outside core's guard."""
    if isinstance(exc, NotReady):
        return "unavailable"
    if isinstance(exc, (TimeoutError, asyncio.CancelledError)) or (isinstance(exc, PyMongoError) and exc.timeout):
        return "timeout"
    return "backend_error"
