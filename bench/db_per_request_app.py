"""Bench only: the reference's way of querying, one new connection per request.

Every request reads the credentials from Vault with hvac (blocking, as the reference
does) and opens, uses and closes a new database connection. Served by Hypercorn with
uvloop like devstack, so that the comparison isolates the connection handling. Never
imported by devstack.

    VAULT_ADDR=... VAULT_TOKEN=... POSTGRES_HOST=... MYSQL_HOST=... \
        hypercorn --worker-class uvloop --bind 127.0.0.1:PORT db_per_request_app:app
"""

from __future__ import annotations

import os
from typing import Any

import aiomysql
import asyncpg
import hvac
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


@app.get("/examples/database/postgres/query")
async def postgres_query() -> Any:
    creds = vault_secret("postgres")
    conn = await asyncpg.connect(
        host=os.environ["POSTGRES_HOST"],
        port=int(os.environ["POSTGRES_PORT"]),
        user=creds["user"],
        password=creds["password"],
        database=creds["database"],
    )
    try:
        result = await conn.fetchval("SELECT current_timestamp")
    finally:
        await conn.close()
    return jsonify({"database": "PostgreSQL", "query": "SELECT current_timestamp", "result": str(result)})


@app.get("/examples/database/mysql/query")
async def mysql_query() -> Any:
    creds = vault_secret("mysql")
    conn = await aiomysql.connect(
        host=os.environ["MYSQL_HOST"],
        port=int(os.environ["MYSQL_PORT"]),
        user=creds["user"],
        password=creds["password"],
        db=creds["database"],
    )
    try:
        async with conn.cursor() as cursor:
            await cursor.execute("SELECT NOW()")
            (result,) = await cursor.fetchone()
    finally:
        conn.close()
    return jsonify({"database": "MySQL", "query": "SELECT NOW()", "result": str(result)})
