"""What a record costs in each database plugin: a stored value and a page of records stay
within the bounds the contract states, whatever numbers and characters the value holds.

PostgreSQL's jsonb wrote ``1e308`` out as 309 digits: a 64 KiB body became a 3.4 MB row
and answer, and ``?limit=100`` of them ~340 MB; no plugin bounded a page. Each database
runs in a database (a collection for MongoDB) of the test's own, with the plugin alone,
so that pages hold only the test's records.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from bson import ObjectId

from devstack.testing import running_app

from .support import _run, env_value, mongo_client, services_env, unique

BODY_LIMIT = 65536
# the contract's bounds: a value takes at most 4x its body as stored and as answered; a
# page stops once its values reach 1 MiB as stored, so it answers at most 3 MiB of values
# (non-ASCII characters are escaped, 6 bytes for 2) plus each record's id, key and time
VALUE_FACTOR = 4
PAGE_VALUE_BYTES = 1 << 20
PAGE_ANSWER_BOUND = 3 * PAGE_VALUE_BYTES + 100 * 256
# the worst number tokens: jsonb's (1e308), Python's repr (1e15), the extremes of a double
NUMBER_TOKENS = ("1e308", "-1e-300", "1e15", "5e-324", "1.7976931348623157e308", "12345678901234567890")


@dataclass
class Store:
    """One database plugin on a database of the test's own."""

    name: str
    env: dict[str, str | None]
    stored_bytes: Callable[[Any], int]  # a record's value as the database keeps it, in bytes

    @property
    def base(self) -> str:
        return f"/examples/database/{self.name}"


def psql(database: str, statement: str) -> str:
    return _run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", database, "-XAtq", "-c", statement]).strip()


def mariadb(statement: str) -> str:
    return _run(["mariadb", "--protocol=tcp", "-h", "127.0.0.1", "-u", "root", "-N", "-B", "-e", statement]).strip()


def postgres_store(name: str) -> Store:
    psql("postgres", f'CREATE DATABASE "{name}" OWNER "{env_value("POSTGRES_USER")}"')

    def stored(record_id: Any) -> int:
        return int(psql(name, f"SELECT octet_length(value::text) FROM devstack_records WHERE id = {int(record_id)}"))

    return Store("postgres", {"POSTGRES_DB": name}, stored)


def mysql_store(name: str) -> Store:
    user = env_value("MYSQL_USER")
    mariadb(
        f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4; "
        f"GRANT ALL PRIVILEGES ON `{name}`.* TO '{user}'@'127.0.0.1'; "
        f"GRANT ALL PRIVILEGES ON `{name}`.* TO '{user}'@'localhost'"
    )

    def stored(record_id: Any) -> int:
        return int(mariadb(f"SELECT LENGTH(value) FROM `{name}`.devstack_records WHERE id = {int(record_id)}"))

    return Store("mysql", {"MYSQL_DATABASE": name}, stored)


def mongodb_store(name: str) -> Store:
    def stored(record_id: Any) -> int:
        with mongo_client() as client:
            document = client[env_value("MONGODB_DATABASE")][name].find_one({"_id": ObjectId(record_id)})
        assert document is not None
        return len(document["value_json"].encode())

    return Store("mongodb", {"MONGODB_COLLECTION": name}, stored)


def drop(store: Store, name: str) -> None:
    if store.name == "postgres":
        psql("postgres", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    elif store.name == "mysql":
        mariadb(f"DROP DATABASE IF EXISTS `{name}`")
    else:
        with mongo_client() as client:
            client[env_value("MONGODB_DATABASE")].drop_collection(name)


STORES = {"postgres": postgres_store, "mysql": mysql_store, "mongodb": mongodb_store}


@pytest.fixture(params=sorted(STORES))
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    name = unique("devstack_sizes_")
    made = STORES[request.param](name)
    made.env = {**services_env(), **made.env, "DEVSTACK_PLUGINS": made.name, "MONGODB_AUTH_SOURCE": None}
    try:
        yield made
    finally:
        drop(made, name)


async def wait_healthy(client: Any, name: str) -> None:
    """Poll the plugin's health route until healthy (its pool opens in the background)."""
    body: Any = None
    for _ in range(150):
        body = await (await client.get(f"/health/{name}")).get_json()
        if body["status"] == "healthy":
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{name} is not healthy after 15 s: {body}")


def body_of(key: str, token: str) -> bytes:
    """A body of at most BODY_LIMIT bytes: ``value`` is an array of ``token`` repeated."""
    count = BODY_LIMIT // (len(token.encode()) + 1)
    while True:
        items = ",".join([token] * count)
        body = f'{{"key":"{key}","value":[{items}]}}'.encode()
        if len(body) <= BODY_LIMIT:
            return body
        count -= 1


def string_body(key: str, char: str) -> bytes:
    """A body of at most BODY_LIMIT bytes whose value is one string of ``char``."""
    room = BODY_LIMIT - len(f'{{"key":"{key}","value":""}}')
    text = char * (room // len(char.encode()))
    return f'{{"key":"{key}","value":"{text}"}}'.encode()


JSON = {"Content-Type": "application/json"}


async def test_a_stored_value_takes_at_most_4x_its_body(store: Store) -> None:
    async with running_app(env=store.env) as (_app, client):
        await wait_healthy(client, store.name)
        for token in NUMBER_TOKENS:
            body = body_of(unique("size."), token)
            response = await client.post(store.base, data=body, headers=JSON)
            answer = await response.get_data()
            assert response.status_code == 201, (token, answer[:200])
            record = json.loads(answer)
            assert record["value"] == json.loads(body)["value"]  # 1e308 stays a float, not a 309-digit integer
            assert len(answer) <= VALUE_FACTOR * len(body), (token, len(answer), len(body))
            stored = store.stored_bytes(record["id"])
            assert stored <= VALUE_FACTOR * len(body), (token, stored, len(body))
            page = await (await client.get(f"{store.base}?limit=1")).get_data()
            assert json.loads(page)["items"][0]["id"] == record["id"]
            assert json.loads(page)["items"][0]["value"] == record["value"]
            assert len(page) <= VALUE_FACTOR * len(body), (token, len(page), len(body))


async def test_a_page_of_the_largest_records_answers_within_the_documented_bound(store: Store) -> None:
    # 20 records whose values answer 3x what they store: 20 x 192 KiB at ?limit=100 before
    async with running_app(env=store.env) as (_app, client):
        await wait_healthy(client, store.name)
        ours = []
        for n in range(20):
            response = await client.post(store.base, data=string_body(unique(f"page.{n}."), "é"), headers=JSON)
            assert response.status_code == 201
            ours.append((await response.get_json())["id"])

        seen: list[Any] = []
        offset = pages = 0
        while len(seen) < len(ours):
            response = await client.get(f"{store.base}?limit=100&offset={offset}")
            answer = await response.get_data()
            assert response.status_code == 200
            assert len(answer) <= PAGE_ANSWER_BOUND, len(answer)
            page = json.loads(answer)
            assert page["items"], page
            values = sum(len(json.dumps(item["value"], ensure_ascii=False).encode()) for item in page["items"])
            assert values <= PAGE_VALUE_BYTES or len(page["items"]) == 1
            seen += [item["id"] for item in page["items"]]
            assert page["truncated"] is (len(seen) < len(ours)), "a page stopped early without saying so"
            offset += len(page["items"])
            pages += 1
        assert seen == ours[::-1]  # every record once, newest first, none skipped
        assert pages >= 2  # 20 x 64 KiB stored is more than one page holds
