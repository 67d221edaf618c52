"""The MongoDB driver: one ``AsyncMongoClient`` (its own connection pool) and the calls on it.

Opening the client also makes sure the records collection and its ``created_at`` index
exist; no call runs before that (an insert racing the collection's creation deadlocks
some servers, SecantusDB 0.7 with its oplog on, and would leave it without its index).
The driver reconnects by itself after a server restart or a killed connection.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from typing import Any

from pymongo import DESCENDING, AsyncMongoClient
from pymongo.asynchronous.cursor import AsyncCursor
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import CollectionInvalid

from devstack.api import PAGE_VALUE_BYTES, Credentials, Datastore, Page, Record, invalid, stored_json
from devstack_mongodb.records import Document, as_record, from_document, new_document, now, stored_bytes
from devstack_mongodb.settings import MongoSettings

log = logging.getLogger("devstack_mongodb")

PROJECTION = {"key": 1, "value_json": 1, "created_at": 1}
NEWEST_FIRST = [("created_at", DESCENDING), ("_id", DESCENDING)]
INDEX_NAME = "created_at_desc_id_desc"
PAGE_BATCH = 16  # documents fetched per round trip of a page: it reads little past its byte budget

Database = AsyncDatabase[Document]


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


class MongoStore(Datastore[Database, MongoSettings]):
    name = "mongodb"
    product = "MongoDB"
    settings_model = MongoSettings
    health_description = "MongoDB answers buildInfo through the plugin's pool"
    query_operation = "list_collections"
    measures_pool = False
    not_connected = "MongoDB is not ready yet"
    not_ready = "MongoDB client is not ready yet"
    timed_out = "MongoDB did not answer in time"

    def open_wait(self) -> float:
        # creating the collection and its index can take seconds on a busy server: a call
        # waits for it within its own timeout rather than server selection's
        return max(self.settings.server_selection_timeout, self.settings.timeout - 0.5)

    async def open_pool(self, credentials: Credentials) -> Database:
        settings = self.settings
        auth: dict[str, Any] = {}
        if credentials.authenticates:
            auth = {
                "username": credentials.user,
                "password": credentials.password,
                "authSource": settings.auth_source or credentials.database,
            }
        client: AsyncMongoClient[Document] = AsyncMongoClient(
            host=settings.host,
            port=settings.port,
            minPoolSize=settings.pool_min_size,
            maxPoolSize=settings.pool_max_size,
            # not timeoutMS: with it the driver ignores serverSelectionTimeoutMS, and a
            # server that is down would hold every call for the whole timeout
            socketTimeoutMS=int(settings.timeout * 1000),
            serverSelectionTimeoutMS=int(settings.server_selection_timeout * 1000),
            connectTimeoutMS=int(settings.connect_timeout * 1000),
            tz_aware=True,
            appname="devstack-mongodb",
            **auth,
        )
        return client[credentials.database]

    async def prepare(self, pool: Database) -> None:
        async with asyncio.timeout(self.settings.timeout):
            await self._ensure_collection(pool)

    async def _ensure_collection(self, database: Database) -> None:
        name = self.settings.collection
        if name not in await database.list_collection_names(filter={"name": name}):
            with suppress(CollectionInvalid):  # created meanwhile by another worker
                await database.create_collection(name)
        await database[name].create_index(NEWEST_FIRST, name=INDEX_NAME)

    async def close_pool(self, pool: Database, timeout: float) -> None:
        try:
            async with asyncio.timeout(timeout):
                await pool.client.close()
        except Exception as exc:  # noqa: BLE001 - shutting down anyway
            log.warning("closing the MongoDB client failed", extra={"error_type": type(exc).__name__})

    def check_value(self, value: Any) -> None:
        try:
            stored_json(value)
        except (ValueError, RecursionError):
            raise invalid(["body", "value"], "Value must be plain JSON (no NaN or infinite numbers)") from None

    async def query(self, pool: Database) -> dict[str, Any]:
        names = sorted(await pool.list_collection_names())
        return {"collections": names, "count": len(names)}

    async def insert(self, pool: Database, key: str, value: Any) -> Record:
        document = new_document(key, value, now())
        inserted = await pool[self.settings.collection].insert_one(document)
        return as_record(inserted.inserted_id, key, value, document["created_at"])

    async def page(self, pool: Database, limit: int, offset: int, count: bool) -> Page:
        """The filter is the fixed ``{}``; the whole collection is counted with
        estimatedDocumentCount, which reads the collection's metadata instead of scanning
        every document (count_documents({}) would)."""
        collection = pool[self.settings.collection]
        cursor = collection.find({}, PROJECTION).sort(NEWEST_FIRST).skip(offset).limit(limit)
        if count:
            (documents, truncated), total = await asyncio.gather(
                within_page(cursor.batch_size(PAGE_BATCH)), collection.estimated_document_count()
            )
        else:
            (documents, truncated), total = await within_page(cursor.batch_size(PAGE_BATCH)), None
        records = [record for record in map(from_document, documents) if record is not None]
        return Page(records, truncated, total)

    async def version(self, pool: Database) -> str:
        info = await pool.client.admin.command("buildInfo")
        return str(info.get("version", "unknown"))
