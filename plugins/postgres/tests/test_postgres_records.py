"""The endpoints against the real server: happy paths, validation, limits, the contract."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from devstack.testing import running_app
from devstack.testkit import Contract, wait_health

from .pg_support import superuser

BASE = "/examples/database/postgres"


def unique_key(prefix: str = "k") -> str:
    return f"{prefix}.{uuid.uuid4().hex[:12]}"


async def test_query_returns_the_reference_keys_and_the_server_time(pg_env, admin: asyncpg.Connection) -> None:
    async with running_app(env=pg_env) as (_app, client):
        await wait_health(client, "postgres")
        response = await client.get(f"{BASE}/query")
        body = await response.get_json()
        assert response.status_code == 200
        assert set(body) == {"database", "query", "result"}
        assert body["database"] == "PostgreSQL"
        assert body["query"] == "SELECT current_timestamp"
        server_now = await admin.fetchval("SELECT current_timestamp")
        answered = datetime.fromisoformat(body["result"])
        assert abs(server_now - answered) < timedelta(seconds=5)
        (await Contract.of(client)).check("GET", f"{BASE}/query", 200, body)


async def test_insert_stores_a_row_and_answers_201(pg_env, admin: asyncpg.Connection) -> None:
    key = unique_key("insert")
    value = {"name": "ada", "tags": ["x", "y"], "n": 3, "ok": True, "none": None, "nested": {"pi": 3.5}}
    async with running_app(env=pg_env) as (_app, client):
        await wait_health(client, "postgres")
        response = await client.post(BASE, json={"key": key, "value": value})
        body = await response.get_json()
        assert response.status_code == 201, body
        assert set(body) == {"database", "id", "key", "value", "created_at"}
        assert body["database"] == "PostgreSQL"
        assert body["key"] == key
        assert body["value"] == value
        assert isinstance(body["id"], int)
        created = datetime.fromisoformat(body["created_at"])
        assert created.tzinfo is not None
        assert abs(datetime.now(UTC) - created) < timedelta(minutes=1)
        (await Contract.of(client)).check("POST", BASE, 201, body)

    row = await admin.fetchrow(
        "SELECT key, value::text AS value, created_at FROM devstack_records WHERE id = $1", body["id"]
    )
    assert row["key"] == key
    assert json.loads(row["value"]) == value
    assert row["created_at"] == created


async def test_any_json_value_is_stored(pg_env) -> None:
    values = [None, 0, -12.5, 10**30, "text with ünïcode ✓", True, [], {}, [1, [2, [3]]], {"a": {"b": {"c": None}}}]
    async with running_app(env=pg_env) as (_app, client):
        await wait_health(client, "postgres")
        for value in values:
            response = await client.post(BASE, json={"key": unique_key("any"), "value": value})
            body = await response.get_json()
            assert response.status_code == 201, (value, body)
            assert body["value"] == value


async def test_list_is_newest_first_with_limit_offset_and_total_count(pg_env, admin: asyncpg.Connection) -> None:
    async with running_app(env=pg_env) as (_app, client):
        await wait_health(client, "postgres")
        keys = [unique_key("list") for _ in range(3)]
        ids = []
        for key in keys:
            response = await client.post(BASE, json={"key": key, "value": {"key": key}})
            assert response.status_code == 201
            ids.append((await response.get_json())["id"])
        total = await admin.fetchval("SELECT count(*) FROM devstack_records")

        response = await client.get(f"{BASE}?limit=2")
        body = await response.get_json()
        assert response.status_code == 200
        assert set(body) == {"database", "items", "count", "limit", "offset", "truncated"}
        assert body["truncated"] is False
        assert body["database"] == "PostgreSQL"
        assert (body["limit"], body["offset"], body["count"]) == (2, 0, total)
        assert [item["id"] for item in body["items"]] == [ids[2], ids[1]]
        assert body["items"][0] == {
            "id": ids[2],
            "key": keys[2],
            "value": {"key": keys[2]},
            "created_at": body["items"][0]["created_at"],
        }
        contract = await Contract.of(client)
        contract.check("GET", BASE, 200, body)

        response = await client.get(f"{BASE}?limit=1&offset=2")
        body = await response.get_json()
        assert [item["id"] for item in body["items"]] == [ids[0]]
        assert (body["limit"], body["offset"]) == (1, 2)

        response = await client.get(BASE)
        body = await response.get_json()
        assert (body["limit"], body["offset"]) == (20, 0)
        assert len(body["items"]) == min(20, total)
        stamps = [(item["created_at"], item["id"]) for item in body["items"]]
        assert stamps == sorted(stamps, reverse=True)

        response = await client.get(f"{BASE}?offset={total}")
        body = await response.get_json()
        assert body["items"] == []
        assert body["count"] == total


async def test_table_is_created_at_startup_when_missing(pg_env, admin: asyncpg.Connection) -> None:
    name = f"devstack_pgfresh_{uuid.uuid4().hex[:8]}"
    await admin.execute(f'CREATE DATABASE "{name}" OWNER "{pg_env["POSTGRES_USER"]}"')
    try:
        async with running_app(env={**pg_env, "POSTGRES_DATABASE": name}) as (_app, client):
            await wait_health(client, "postgres")
            response = await client.get(BASE)
            assert (await response.get_json())["count"] == 0
            fresh = await asyncpg.connect(
                host=pg_env["POSTGRES_HOST"], port=int(pg_env["POSTGRES_PORT"]), user="postgres", database=name
            )
            try:
                columns = await fresh.fetch(
                    "SELECT column_name, data_type FROM information_schema.columns "
                    "WHERE table_name = 'devstack_records' ORDER BY ordinal_position"
                )
                indexes = await fresh.fetch("SELECT indexdef FROM pg_indexes WHERE tablename = 'devstack_records'")
            finally:
                await fresh.close()
            assert [(c["column_name"], c["data_type"]) for c in columns] == [
                ("id", "bigint"),
                ("key", "character varying"),
                ("value", "json"),
                ("created_at", "timestamp with time zone"),
            ]
            assert any("created_at DESC" in index["indexdef"] for index in indexes)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_a_jsonb_table_of_an_earlier_version_becomes_json_and_keeps_its_rows(pg_env, admin) -> None:
    name = f"devstack_pgold_{uuid.uuid4().hex[:8]}"
    await admin.execute(f'CREATE DATABASE "{name}" OWNER "{pg_env["POSTGRES_USER"]}"')
    try:
        old = await asyncpg.connect(
            host=pg_env["POSTGRES_HOST"],
            port=int(pg_env["POSTGRES_PORT"]),
            user=pg_env["POSTGRES_USER"],
            password=pg_env["POSTGRES_PASSWORD"],
            database=name,
        )
        try:
            await old.execute(
                "CREATE TABLE devstack_records (id bigserial PRIMARY KEY, key varchar(100) NOT NULL, "
                "value jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now());"
                """INSERT INTO devstack_records (key, value) VALUES ('old', '{"b": [1, 2.5], "a": null}')"""
            )
        finally:
            await old.close()
        async with running_app(env={**pg_env, "POSTGRES_DATABASE": name}) as (_app, client):
            await wait_health(client, "postgres")
            response = await client.post(BASE, json={"key": "new", "value": "n\u0000l"})
            assert response.status_code == 201
            page = await (await client.get(BASE)).get_json()
            assert [(item["key"], item["value"]) for item in page["items"]] == [
                ("new", "n\u0000l"),
                ("old", {"a": None, "b": [1, 2.5]}),
            ]
        fresh = await superuser(name)
        try:
            kind = await fresh.fetchval(
                "SELECT data_type FROM information_schema.columns "
                "WHERE table_name = 'devstack_records' AND column_name = 'value'"
            )
        finally:
            await fresh.close()
        assert kind == "json"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_invalid_bodies_answer_422_and_store_nothing(pg_env, admin: asyncpg.Connection) -> None:
    before = await admin.fetchval("SELECT count(*) FROM devstack_records")
    bad_bodies = [
        ({"value": 1}, ["body"]),
        ({"key": "k"}, ["body"]),
        ({"key": "", "value": 1}, ["body", "key"]),
        ({"key": "x" * 101, "value": 1}, ["body", "key"]),
        ({"key": "has space", "value": 1}, ["body", "key"]),
        ({"key": "semi;colon", "value": 1}, ["body", "key"]),
        ({"key": "line\n", "value": 1}, ["body", "key"]),
        ({"key": 12, "value": 1}, ["body", "key"]),
        ({"key": "k", "value": 1, "extra": True}, ["body"]),
        (["k", 1], ["body"]),
    ]
    async with running_app(env=pg_env) as (_app, client):
        await wait_health(client, "postgres")
        contract = await Contract.of(client)
        for payload, loc in bad_bodies:
            response = await client.post(BASE, json=payload)
            body = await response.get_json()
            assert response.status_code == 422, (payload, body)
            assert body["error"] == "ValidationError"
            assert body["details"]["validation_errors"][0]["loc"] == loc, (payload, body)
            contract.check("POST", BASE, 422, body)

        response = await client.post(BASE, data="{not json", headers={"Content-Type": "application/json"})
        assert response.status_code == 422
        response = await client.post(BASE, data="", headers={"Content-Type": "application/json"})
        assert response.status_code == 422
        response = await client.post(BASE, data="key=a", headers={"Content-Type": "text/plain"})
        assert response.status_code == 415
        contract.check("POST", BASE, 415, await response.get_json())
        assert await admin.fetchval("SELECT count(*) FROM devstack_records") == before

        ok = await client.post(BASE, json={"key": "a-Z_0.9:x" + "y" * 91, "value": 1})
        assert ok.status_code == 201


async def test_values_that_are_not_json_answer_422_and_nul_is_stored(pg_env, admin: asyncpg.Connection) -> None:
    before = await admin.fetchval("SELECT count(*) FROM devstack_records")
    raw_bodies = [
        '{"key": "surrogate", "value": ["\\ud800"]}',
        '{"key": "nan", "value": NaN}',
        '{"key": "inf", "value": {"x": [1e400]}}',
    ]
    async with running_app(env=pg_env) as (_app, client):
        await wait_health(client, "postgres")
        for raw in raw_bodies:
            response = await client.post(BASE, data=raw, headers={"Content-Type": "application/json"})
            body = await response.get_json()
            assert response.status_code == 422, (raw, body)
            # not JSON by RFC 8259 (NaN, overflowing numbers, lone surrogates): core rejects the body
            assert body["details"]["validation_errors"][0]["loc"] == ["body"]
        # the json column keeps the text, so NUL (which jsonb refused) is stored and read back
        for value in ("a\u0000b", {"a\u0000": ["\u0000"]}, "\U0001f600"):
            stored = await client.post(BASE, json={"key": "kept", "value": value})
            assert stored.status_code == 201, await stored.get_data()
            record = await stored.get_json()
            assert record["value"] == value
            text = await admin.fetchval("SELECT value::text FROM devstack_records WHERE id = $1", record["id"])
            assert json.loads(text) == value
        listed = await (await client.get(f"{BASE}?limit=3")).get_json()
        assert [item["value"] for item in listed["items"]] == ["\U0001f600", {"a\u0000": ["\u0000"]}, "a\u0000b"]
    assert await admin.fetchval("SELECT count(*) FROM devstack_records") == before + 3


async def test_body_over_64_kib_answers_413(pg_env, admin: asyncpg.Connection) -> None:
    before = await admin.fetchval("SELECT count(*) FROM devstack_records")
    async with running_app(env=pg_env) as (_app, client):
        await wait_health(client, "postgres")
        envelope = '{"key": "big", "value": ""}'
        fits = '{"key": "big", "value": "' + "a" * (65536 - len(envelope)) + '"}'
        assert len(fits) == 65536
        response = await client.post(BASE, data=fits, headers={"Content-Type": "application/json"})
        assert response.status_code == 201
        too_big = fits[:-2] + 'a"}'
        response = await client.post(BASE, data=too_big, headers={"Content-Type": "application/json"})
        body = await response.get_json()
        assert response.status_code == 413
        assert body["error"] == "PayloadTooLargeError"
        (await Contract.of(client)).check("POST", BASE, 413, body)
    assert await admin.fetchval("SELECT count(*) FROM devstack_records") == before + 1


async def test_invalid_list_parameters_answer_422(pg_env) -> None:
    async with running_app(env=pg_env) as (_app, client):
        await wait_health(client, "postgres")
        contract = await Contract.of(client)
        for query, name in [
            ("limit=0", "limit"),
            ("limit=101", "limit"),
            ("limit=abc", "limit"),
            ("limit=1.5", "limit"),
            ("offset=-1", "offset"),
            ("offset=x", "offset"),
            ("offset=1000000001", "offset"),
        ]:
            response = await client.get(f"{BASE}?{query}")
            body = await response.get_json()
            assert response.status_code == 422, (query, body)
            assert body["details"]["validation_errors"][0]["loc"] == ["query", name]
            contract.check("GET", BASE, 422, body)
        response = await client.get(f"{BASE}?limit=100&offset=0")
        assert response.status_code == 200


async def test_health_reports_version_and_matches_contract(pg_env, admin: asyncpg.Connection) -> None:
    async with running_app(env=pg_env) as (_app, client):
        body = await wait_health(client, "postgres")
        assert set(body) == {"status", "version"}
        assert body["version"] == await admin.fetchval("SELECT version()")
        (await Contract.of(client)).check("GET", "/health/postgres", 200, body)
        response = await client.get("/health/all")
        assert (await response.get_json())["services"]["postgres"]["status"] == "healthy"


async def test_hooks_register_root_info_contract_and_metrics(pg_env) -> None:
    async with running_app(env=pg_env) as (_app, client):
        await wait_health(client, "postgres")
        root = await (await client.get("/")).get_json()
        assert root["examples"]["databases"] == "/examples/database"
        assert "postgres" in root["security"]["circuit_breakers"]["services"]

        document = await (await client.get("/openapi.json")).get_json()
        assert set(document["paths"][BASE]) == {"get", "post"}
        assert set(document["paths"][f"{BASE}/query"]) == {"get"}
        assert set(document["paths"]["/health/postgres"]) == {"get"}
        for operation in (document["paths"][BASE]["get"], document["paths"][BASE]["post"]):
            assert {"401", "422", "429", "503"} <= set(operation["responses"])

        plugins = await (await client.get("/plugins")).get_json()
        record = next(p for p in plugins["plugins"] if p["name"] == "postgres")
        assert record["status"] == "loaded"
        assert record["health_checks"] == ["postgres"]
        assert set(record["routes"]) == {f"GET {BASE}", f"POST {BASE}", f"GET {BASE}/query", "GET /health/postgres"}

        await client.get(f"{BASE}/query")
        await client.post(BASE, json={"key": unique_key("m"), "value": 1})
        await client.get(BASE)
        metrics = await (await client.get("/metrics")).get_data(as_text=True)
        for operation in ("query", "insert", "list", "health"):
            assert f'postgres_operations_total{{operation="{operation}",result="ok"}}' in metrics
            assert f'postgres_operation_duration_seconds_count{{operation="{operation}"}}' in metrics
        pool_line = next(line for line in metrics.splitlines() if line.startswith("postgres_pool_size "))
        assert float(pool_line.split()[1]) >= 5


async def test_count_includes_rows_written_elsewhere_once_the_cached_total_expires(pg_env, admin) -> None:
    async with running_app(env={**pg_env, "POSTGRES_COUNT_CACHE_SECONDS": "0.3"}) as (_app, client):
        await wait_health(client, "postgres")
        first = (await (await client.get(BASE)).get_json())["count"]
        response = await client.post(BASE, json={"key": unique_key("own"), "value": 1})
        assert response.status_code == 201
        assert (await (await client.get(BASE)).get_json())["count"] == first + 1  # own insert: at once
        await admin.execute("INSERT INTO devstack_records (key, value) VALUES ('elsewhere', '1'), ('elsewhere', '2')")
        await asyncio.sleep(0.4)
        assert (await (await client.get(BASE)).get_json())["count"] == first + 3
        assert (await (await client.get(BASE)).get_json())["count"] == await admin.fetchval(
            "SELECT count(*) FROM devstack_records"
        )


async def test_count_is_exact_on_every_request_when_the_cache_is_off(pg_env, admin) -> None:
    async with running_app(env={**pg_env, "POSTGRES_COUNT_CACHE_SECONDS": "0"}) as (_app, client):
        await wait_health(client, "postgres")
        await client.get(BASE)
        await admin.execute("INSERT INTO devstack_records (key, value) VALUES ('elsewhere', 'null')")
        body = await (await client.get(BASE)).get_json()
        assert body["count"] == await admin.fetchval("SELECT count(*) FROM devstack_records")
