"""The endpoints against the real server: happy paths, validation, limits, the contract."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta

import aiomysql

from devstack.testing import running_app
from devstack.testkit import Contract, wait_health

from .my_support import root, sql

BASE = "/examples/database/mysql"


def unique_key(prefix: str = "k") -> str:
    return f"{prefix}.{uuid.uuid4().hex[:12]}"


async def count_rows(admin: aiomysql.Connection) -> int:
    return int((await sql(admin, "SELECT COUNT(*) FROM devstack_records"))[0][0])


async def test_query_returns_the_reference_keys_and_the_server_time(my_env, admin) -> None:
    async with running_app(env=my_env) as (_app, client):
        await wait_health(client, "mysql")
        response = await client.get(f"{BASE}/query")
        body = await response.get_json()
        assert response.status_code == 200
        assert set(body) == {"database", "query", "result"}
        assert body["database"] == "MySQL"
        assert body["query"] == "SELECT NOW()"
        (server_now,) = (await sql(admin, "SELECT UTC_TIMESTAMP()"))[0]
        assert abs(server_now - datetime.fromisoformat(body["result"])) < timedelta(seconds=5)
        (await Contract.of(client)).check("GET", f"{BASE}/query", 200, body)


async def test_insert_stores_a_row_and_answers_201(my_env, admin) -> None:
    key = unique_key("insert")
    value = {"name": "ada", "tags": ["x", "y"], "n": 3, "ok": True, "none": None, "nested": {"pi": 3.5}}
    async with running_app(env=my_env) as (_app, client):
        await wait_health(client, "mysql")
        response = await client.post(BASE, json={"key": key, "value": value})
        body = await response.get_json()
        assert response.status_code == 201, body
        assert set(body) == {"database", "id", "key", "value", "created_at"}
        assert (body["database"], body["key"], body["value"]) == ("MySQL", key, value)
        assert isinstance(body["id"], int)
        created = datetime.fromisoformat(body["created_at"])
        assert created.utcoffset() == timedelta(0)
        assert abs(datetime.now(UTC) - created) < timedelta(minutes=1)
        (await Contract.of(client)).check("POST", BASE, 201, body)

    rows = await sql(admin, "SELECT `key`, value, created_at FROM devstack_records WHERE id = %s", (body["id"],))
    assert len(rows) == 1
    assert rows[0][0] == key
    assert json.loads(rows[0][1]) == value
    assert rows[0][2].replace(tzinfo=UTC) == created


async def test_any_json_value_is_stored(my_env) -> None:
    values = [
        None,
        0,
        -12.5,
        10**30,
        "text with ünïcode ✓ \U0001f600",
        "nul \u0000 is fine here",
        True,
        [],
        {},
        [1, [2, [3]]],
        {"a": {"b": {"c": None}}},
    ]
    async with running_app(env=my_env) as (_app, client):
        await wait_health(client, "mysql")
        for value in values:
            response = await client.post(BASE, json={"key": unique_key("any"), "value": value})
            body = await response.get_json()
            assert response.status_code == 201, (value, body)
            assert body["value"] == value
        listed = await (await client.get(f"{BASE}?limit={len(values)}")).get_json()
        assert [item["value"] for item in reversed(listed["items"])] == values


async def test_list_is_newest_first_with_limit_offset_and_total_count(my_env, admin) -> None:
    async with running_app(env=my_env) as (_app, client):
        await wait_health(client, "mysql")
        keys = [unique_key("list") for _ in range(3)]
        ids = []
        for key in keys:
            response = await client.post(BASE, json={"key": key, "value": {"key": key}})
            assert response.status_code == 201
            ids.append((await response.get_json())["id"])
        total = await count_rows(admin)

        response = await client.get(f"{BASE}?limit=2")
        body = await response.get_json()
        assert response.status_code == 200
        assert set(body) == {"database", "items", "count", "limit", "offset", "truncated"}
        assert body["database"] == "MySQL"
        assert (body["limit"], body["offset"], body["count"]) == (2, 0, total)
        assert [item["id"] for item in body["items"]] == [ids[2], ids[1]]
        assert body["items"][0] == {
            "id": ids[2],
            "key": keys[2],
            "value": {"key": keys[2]},
            "created_at": body["items"][0]["created_at"],
        }
        (await Contract.of(client)).check("GET", BASE, 200, body)

        body = await (await client.get(f"{BASE}?limit=1&offset=2")).get_json()
        assert [item["id"] for item in body["items"]] == [ids[0]]
        assert (body["limit"], body["offset"]) == (1, 2)

        body = await (await client.get(BASE)).get_json()
        assert (body["limit"], body["offset"]) == (20, 0)
        assert len(body["items"]) == min(20, total)
        stamps = [(item["created_at"], item["id"]) for item in body["items"]]
        assert stamps == sorted(stamps, reverse=True)

        body = await (await client.get(f"{BASE}?offset={total}")).get_json()
        assert body["items"] == []
        assert body["count"] == total


async def test_table_is_created_at_startup_when_missing(my_env) -> None:
    name = f"devstack_myfresh_{uuid.uuid4().hex[:8]}"
    admin = await root()
    try:
        await sql(admin, f"CREATE DATABASE `{name}`")
        for host in ("127.0.0.1", "localhost"):
            await sql(admin, f"GRANT ALL PRIVILEGES ON `{name}`.* TO %s@%s", (my_env["MYSQL_USER"], host))
        async with running_app(env={**my_env, "MYSQL_DATABASE": name}) as (_app, client):
            await wait_health(client, "mysql")
            assert (await (await client.get(BASE)).get_json())["count"] == 0
            columns = await sql(
                admin,
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = %s AND table_name = 'devstack_records' ORDER BY ordinal_position",
                (name,),
            )
            indexed = await sql(
                admin,
                "SELECT column_name FROM information_schema.statistics WHERE table_schema = %s "
                "AND table_name = 'devstack_records' AND index_name = 'devstack_records_created_at' "
                "ORDER BY seq_in_index",
                (name,),
            )
        assert [(c[0], c[1]) for c in columns] in (
            [("id", "bigint"), ("key", "varchar"), ("value", "longtext"), ("created_at", "datetime")],  # MariaDB
            [("id", "bigint"), ("key", "varchar"), ("value", "json"), ("created_at", "datetime")],  # MySQL
        )
        assert [row[0] for row in indexed] == ["created_at", "id"]
    finally:
        await sql(admin, f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


async def test_invalid_bodies_answer_422_and_store_nothing(my_env, admin) -> None:
    before = await count_rows(admin)
    bad_bodies = [
        ({"value": 1}, ["body"]),
        ({"key": "k"}, ["body"]),
        ({"key": "", "value": 1}, ["body", "key"]),
        ({"key": "x" * 101, "value": 1}, ["body", "key"]),
        ({"key": "has space", "value": 1}, ["body", "key"]),
        ({"key": "quote'", "value": 1}, ["body", "key"]),
        ({"key": "line\n", "value": 1}, ["body", "key"]),
        ({"key": 12, "value": 1}, ["body", "key"]),
        ({"key": "k", "value": 1, "extra": True}, ["body"]),
        (["k", 1], ["body"]),
    ]
    async with running_app(env=my_env) as (_app, client):
        await wait_health(client, "mysql")
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
        assert await count_rows(admin) == before

        ok = await client.post(BASE, json={"key": "a-Z_0.9:x" + "y" * 91, "value": 1})
        assert ok.status_code == 201


async def test_values_the_json_column_cannot_hold_answer_422_not_503(my_env, admin) -> None:
    before = await count_rows(admin)
    raw_bodies = [
        '{"key": "surrogate", "value": ["\\ud800"]}',
        '{"key": "surrogatekey", "value": {"\\udc00": 1}}',
        '{"key": "nan", "value": NaN}',
        '{"key": "inf", "value": {"x": [1e400]}}',
        '{"key": "deep", "value": ' + "[" * 32 + "]" * 32 + "}",
        '{"key": "deepobj", "value": ' + '{"a":' * 32 + "1" + "}" * 32 + "}",
    ]
    async with running_app(env=my_env) as (_app, client):
        await wait_health(client, "mysql")
        for raw in raw_bodies:
            response = await client.post(BASE, data=raw, headers={"Content-Type": "application/json"})
            body = await response.get_json()
            assert response.status_code == 422, (raw, body)
            # not JSON by RFC 8259 (NaN, overflowing numbers, lone surrogates): core rejects the body;
            # JSON the column cannot hold: the plugin rejects the value
            assert body["details"]["validation_errors"][0]["loc"] in (["body"], ["body", "value"])
        deepest = json.loads("[" * 31 + "1" + "]" * 31)
        response = await client.post(BASE, json={"key": "deepest", "value": deepest})
        assert response.status_code == 201
        assert (await response.get_json())["value"] == deepest
    assert await count_rows(admin) == before + 1


async def test_body_over_64_kib_answers_413(my_env, admin) -> None:
    before = await count_rows(admin)
    async with running_app(env=my_env) as (_app, client):
        await wait_health(client, "mysql")
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
    assert await count_rows(admin) == before + 1


async def test_invalid_list_parameters_answer_422(my_env) -> None:
    async with running_app(env=my_env) as (_app, client):
        await wait_health(client, "mysql")
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
        assert (await client.get(f"{BASE}?limit=100&offset=0")).status_code == 200


async def test_health_reports_version_and_matches_contract(my_env, admin) -> None:
    async with running_app(env=my_env) as (_app, client):
        body = await wait_health(client, "mysql")
        assert set(body) == {"status", "version"}
        assert body["version"] == (await sql(admin, "SELECT VERSION()"))[0][0]
        (await Contract.of(client)).check("GET", "/health/mysql", 200, body)
        response = await client.get("/health/all")
        assert (await response.get_json())["services"]["mysql"]["status"] == "healthy"


async def test_hooks_register_root_info_contract_and_metrics(my_env) -> None:
    async with running_app(env=my_env) as (_app, client):
        await wait_health(client, "mysql")
        root_doc = await (await client.get("/")).get_json()
        assert root_doc["examples"]["databases"] == "/examples/database"
        assert "mysql" in root_doc["security"]["circuit_breakers"]["services"]

        document = await (await client.get("/openapi.json")).get_json()
        assert set(document["paths"][BASE]) == {"get", "post"}
        assert set(document["paths"][f"{BASE}/query"]) == {"get"}
        assert set(document["paths"]["/health/mysql"]) == {"get"}
        for operation in (document["paths"][BASE]["get"], document["paths"][BASE]["post"]):
            assert {"401", "422", "429", "503"} <= set(operation["responses"])

        plugins = await (await client.get("/plugins")).get_json()
        record = next(p for p in plugins["plugins"] if p["name"] == "mysql")
        assert record["status"] == "loaded"
        assert record["health_checks"] == ["mysql"]
        assert set(record["routes"]) == {f"GET {BASE}", f"POST {BASE}", f"GET {BASE}/query", "GET /health/mysql"}

        await client.get(f"{BASE}/query")
        await client.post(BASE, json={"key": unique_key("m"), "value": 1})
        await client.get(BASE)
        metrics = await (await client.get("/metrics")).get_data(as_text=True)
        for operation in ("query", "insert", "list", "health"):
            assert f'mysql_operations_total{{operation="{operation}",result="ok"}}' in metrics
            assert f'mysql_operation_duration_seconds_count{{operation="{operation}"}}' in metrics
        pool_line = next(line for line in metrics.splitlines() if line.startswith("mysql_pool_size "))
        assert float(pool_line.split()[1]) >= 5


async def test_count_includes_rows_written_elsewhere_once_the_cached_total_expires(my_env, admin) -> None:
    async with running_app(env={**my_env, "MYSQL_COUNT_CACHE_SECONDS": "0.3"}) as (_app, client):
        await wait_health(client, "mysql")
        first = (await (await client.get(BASE)).get_json())["count"]
        response = await client.post(BASE, json={"key": unique_key("own"), "value": 1})
        assert response.status_code == 201
        assert (await (await client.get(BASE)).get_json())["count"] == first + 1  # own insert: at once
        await sql(admin, "INSERT INTO devstack_records (`key`, value) VALUES ('elsewhere', '1'), ('elsewhere', '2')")
        await asyncio.sleep(0.4)
        assert (await (await client.get(BASE)).get_json())["count"] == first + 3
        assert (await (await client.get(BASE)).get_json())["count"] == await count_rows(admin)


async def test_count_is_exact_on_every_request_when_the_cache_is_off(my_env, admin) -> None:
    async with running_app(env={**my_env, "MYSQL_COUNT_CACHE_SECONDS": "0"}) as (_app, client):
        await wait_health(client, "mysql")
        await client.get(BASE)
        await sql(admin, "INSERT INTO devstack_records (`key`, value) VALUES ('elsewhere', 'null')")
        body = await (await client.get(BASE)).get_json()
        assert body["count"] == await count_rows(admin)
