"""Happy paths against the shared SecantusDB: query, store, list, health, metrics, contract."""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from mongodb_support import collection_exists, eventually
from pymongo import MongoClient

from devstack.testing import running_app
from devstack.testkit import Contract, wait_health

BASE = "/examples/database/mongodb"
RECORD_KEYS = {"id", "key", "value", "created_at"}


async def test_health_reports_the_server_version(mongo_env: dict[str, str | None]) -> None:
    async with running_app(env=mongo_env) as (_app, client):
        body = await wait_health(client, "mongodb", timeout=20.0)
        assert set(body) == {"status", "version"}
        assert re.fullmatch(r"\d+\.\d+(\.\d+)?.*", body["version"])
        (await Contract.of(client)).check("GET", "/health/mongodb", 200, body)


async def test_query_lists_the_collections(
    mongo_env: dict[str, str | None], collection_name: str, shared_mongo: MongoClient[dict[str, Any]]
) -> None:
    database = os.environ["MONGODB_DATABASE"]
    async with running_app(env=mongo_env) as (_app, client):
        await wait_health(client, "mongodb", timeout=20.0)
        await eventually(lambda: collection_exists(shared_mongo, database, collection_name))
        before = set(shared_mongo[database].list_collection_names())
        response = await client.get(f"{BASE}/query")
        after = set(shared_mongo[database].list_collection_names())
        assert response.status_code == 200
        body = await response.get_json()
        assert list(body) == ["database", "collections", "count"]
        assert body["database"] == "MongoDB"
        assert collection_name in body["collections"]
        assert body["collections"] == sorted(body["collections"])
        # other tests may create or drop collections meanwhile
        assert before & after <= set(body["collections"]) <= before | after
        assert body["count"] == len(body["collections"])
        (await Contract.of(client)).check("GET", f"{BASE}/query", 200, body)


async def test_startup_creates_the_collection_with_its_created_at_index(
    mongo_env: dict[str, str | None], collection_name: str, shared_mongo: MongoClient[dict[str, Any]]
) -> None:
    database = os.environ["MONGODB_DATABASE"]
    assert not collection_exists(shared_mongo, database, collection_name)
    async with running_app(env=mongo_env) as (_app, _client):
        await eventually(
            lambda: "created_at_desc_id_desc" in shared_mongo[database][collection_name].index_information()
        )
        index = shared_mongo[database][collection_name].index_information()["created_at_desc_id_desc"]
        assert index["key"] == [("created_at", -1), ("_id", -1)]


async def test_first_insert_waits_for_the_collection_and_its_index(
    mongo_env: dict[str, str | None], collection_name: str, shared_mongo: MongoClient[dict[str, Any]]
) -> None:
    """A POST sent the moment the app starts runs only after the set-up created the collection.

    (An insert racing the collection's creation would leave it without its index, and
    deadlocks SecantusDB when its oplog is on.)
    """
    async with running_app(env=mongo_env) as (_app, client):
        response = await client.post(BASE, json={"key": "first", "value": 1})
        assert response.status_code == 201
        indexes = shared_mongo[os.environ["MONGODB_DATABASE"]][collection_name].index_information()
        assert "created_at_desc_id_desc" in indexes


async def test_post_stores_a_record_and_answers_201(
    mongo_env: dict[str, str | None], collection_name: str, shared_mongo: MongoClient[dict[str, Any]]
) -> None:
    value = {"name": "ada", "tags": ["x", "y"], "n": 3, "ratio": 0.25, "ok": True, "nothing": None}
    before = datetime.now(UTC) - timedelta(seconds=1)
    async with running_app(env=mongo_env) as (_app, client):
        response = await client.post(BASE, json={"key": "user:ada_1.v-2", "value": value})
        assert response.status_code == 201
        body = await response.get_json()
        assert list(body) == ["database", "id", "key", "value", "created_at"]
        assert body["database"] == "MongoDB"
        assert re.fullmatch(r"[0-9a-f]{24}", body["id"])
        assert body["key"] == "user:ada_1.v-2"
        assert body["value"] == value
        created = datetime.fromisoformat(body["created_at"])
        assert before <= created <= datetime.now(UTC) + timedelta(seconds=1)
        (await Contract.of(client)).check("POST", BASE, 201, body)

    from bson import ObjectId

    stored = shared_mongo[os.environ["MONGODB_DATABASE"]][collection_name].find_one({"_id": ObjectId(body["id"])})
    assert stored is not None
    assert stored["key"] == "user:ada_1.v-2"
    assert json.loads(stored["value_json"]) == value


async def test_values_of_every_json_type_come_back_exactly(mongo_env: dict[str, str | None]) -> None:
    values: list[Any] = [
        None,
        True,
        0,
        -17,
        12345678901234567890123,  # beyond 64 bits
        3.5,
        "",
        "héllo ✓ \u0000 end",
        [],
        [1, "two", [3], {"four": 4}],
        {},
        {"z": 1, "a": 2, "m": {"nested": [None, False]}},  # key order kept
    ]
    async with running_app(env=mongo_env) as (_app, client):
        for index, value in enumerate(values):
            response = await client.post(BASE, json={"key": f"k{index}", "value": value})
            assert response.status_code == 201, await response.get_data(as_text=True)
            body = await response.get_json()
            assert json.dumps(body["value"]) == json.dumps(value)
        listed = await (await client.get(f"{BASE}?limit=100")).get_json()
        by_key = {item["key"]: item["value"] for item in listed["items"]}
        for index, value in enumerate(values):
            assert json.dumps(by_key[f"k{index}"]) == json.dumps(value)


async def test_operator_values_are_stored_as_inert_data(
    mongo_env: dict[str, str | None], collection_name: str, shared_mongo: MongoClient[dict[str, Any]]
) -> None:
    hostile = [
        {"$where": "sleep(5000) || true"},
        {"$gt": ""},
        {"a.b": {"$ne": None}, "$set": {"key": "pwned"}},
        ["$in", {"$regex": ".*"}],
        "$gt",
    ]
    async with running_app(env=mongo_env) as (_app, client):
        for index, value in enumerate(hostile):
            response = await client.post(BASE, json={"key": f"hostile.{index}", "value": value})
            assert response.status_code == 201
            assert (await response.get_json())["value"] == value
        listed = await (await client.get(BASE)).get_json()
        assert listed["count"] == len(hostile)
        assert [item["value"] for item in listed["items"]] == list(reversed(hostile))

    documents = list(shared_mongo[os.environ["MONGODB_DATABASE"]][collection_name].find({}))
    assert len(documents) == len(hostile)
    for document in documents:
        assert set(document) == {"_id", "key", "value_json", "created_at"}
        assert isinstance(document["value_json"], str)
        assert document["key"].startswith("hostile.")
    stored = [json.loads(document["value_json"]) for document in documents]
    assert sorted(map(json.dumps, stored)) == sorted(map(json.dumps, hostile))


async def test_list_is_newest_first_with_limit_and_offset(mongo_env: dict[str, str | None]) -> None:
    async with running_app(env=mongo_env) as (_app, client):
        empty = await (await client.get(BASE)).get_json()
        assert empty == {"database": "MongoDB", "items": [], "count": 0, "limit": 20, "offset": 0, "truncated": False}
        ids = []
        for index in range(25):
            response = await client.post(BASE, json={"key": f"item-{index:02d}", "value": index})
            ids.append((await response.get_json())["id"])
        newest_first = list(reversed(ids))

        response = await client.get(BASE)
        assert response.status_code == 200
        body = await response.get_json()
        assert list(body) == ["database", "items", "count", "limit", "offset", "truncated"]
        assert (body["database"], body["count"], body["limit"], body["offset"]) == ("MongoDB", 25, 20, 0)
        assert [item["id"] for item in body["items"]] == newest_first[:20]
        assert all(set(item) == RECORD_KEYS for item in body["items"])
        assert body["items"][0]["key"] == "item-24"
        assert body["items"][0]["value"] == 24
        stamps = [datetime.fromisoformat(item["created_at"]) for item in body["items"]]
        assert stamps == sorted(stamps, reverse=True)
        (await Contract.of(client)).check("GET", BASE, 200, body)

        page = await (await client.get(f"{BASE}?limit=10&offset=20")).get_json()
        assert [item["id"] for item in page["items"]] == newest_first[20:]
        assert (page["count"], page["limit"], page["offset"]) == (25, 10, 20)

        one = await (await client.get(f"{BASE}?limit=1&offset=3")).get_json()
        assert [item["id"] for item in one["items"]] == [newest_first[3]]

        beyond = await (await client.get(f"{BASE}?offset=1000000000")).get_json()
        assert beyond["items"] == [] and beyond["count"] == 25


async def test_metrics_count_operations_by_result(mongo_env: dict[str, str | None]) -> None:
    async with running_app(env=mongo_env) as (_app, client):
        await wait_health(client, "mongodb", timeout=20.0)
        assert (await client.post(BASE, json={"key": "m", "value": 1})).status_code == 201
        assert (await client.get(BASE)).status_code == 200
        assert (await client.get(f"{BASE}/query")).status_code == 200
        text = await (await client.get("/metrics")).get_data(as_text=True)
    for operation in ("insert", "list", "list_collections", "health"):
        assert f'mongodb_operations_total{{operation="{operation}",result="ok"}}' in text
        assert f'mongodb_operation_duration_seconds_count{{operation="{operation}"}}' in text


async def test_root_info_and_contract(mongo_env: dict[str, str | None]) -> None:
    async with running_app(env=mongo_env) as (_app, client):
        root = await (await client.get("/")).get_json()
        assert root["examples"]["databases"] == "/examples/database"
        assert "mongodb" in root["security"]["circuit_breakers"]["services"]
        contract = await (await client.get("/openapi.json")).get_json()
        assert set(contract["paths"][BASE]) == {"get", "post"}
        assert contract["paths"][BASE]["post"]["x-max-body-bytes"] == 65536
        assert "get" in contract["paths"][f"{BASE}/query"]
        assert "get" in contract["paths"]["/health/mongodb"]
        plugins = await (await client.get("/plugins")).get_json()
        mine = next(p for p in plugins["plugins"] if p["name"] == "mongodb")
        assert mine["status"] == "loaded"
        assert sorted(mine["routes"]) == sorted(
            [f"GET {BASE}", f"POST {BASE}", f"GET {BASE}/query", "GET /health/mongodb"]
        )
        assert mine["health_checks"] == ["mongodb"]
