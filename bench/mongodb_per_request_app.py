"""Bench only: the reference's way of querying MongoDB, with a new client on every request.

Every request reads ``secret/mongodb`` from Vault with hvac (blocking, as the reference
does), then creates a MongoDB client, lists the collections and closes it. Hypercorn
with uvloop serves it, as it serves devstack, so the comparison isolates the connection
handling. devstack never imports it.

    VAULT_ADDR=... VAULT_TOKEN=... MONGODB_HOST=... MONGODB_PORT=... \
        hypercorn --worker-class uvloop --bind 127.0.0.1:PORT mongodb_per_request_app:app
"""

from __future__ import annotations

import os
from typing import Any

import hvac
from pymongo import AsyncMongoClient
from quart import Quart, jsonify

app = Quart(__name__)


def vault_secret(service: str) -> dict[str, Any]:
    client = hvac.Client(url=os.environ["VAULT_ADDR"], token=os.environ["VAULT_TOKEN"])
    answer = client.secrets.kv.v2.read_secret_version(path=service, mount_point="secret", raise_on_deleted_version=True)
    data: dict[str, Any] = answer["data"]["data"]
    return data


@app.get("/health/")
async def health() -> Any:
    return jsonify({"status": "ok"})


@app.get("/examples/database/mongodb/query")
async def mongodb_query() -> Any:
    creds = vault_secret("mongodb")
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        host=os.environ["MONGODB_HOST"],
        port=int(os.environ["MONGODB_PORT"]),
        username=creds["user"],
        password=creds["password"],
        authSource=creds["database"],
        serverSelectionTimeoutMS=5000,
    )
    try:
        names = await client[creds["database"]].list_collection_names()
    finally:
        await client.close()
    return jsonify({"database": "MongoDB", "collections": names, "count": len(names)})
