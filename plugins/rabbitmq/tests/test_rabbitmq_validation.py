"""Bad input: clear 4xx envelopes, never a 500, nothing sent to the broker."""

from __future__ import annotations

import pytest
from quart.testing import QuartClient
from rabbitmq_support import Management, assert_envelope, unique

from devstack.testkit import Contract

PUBLISH = "/examples/messaging/publish"
CONSUME = "/examples/messaging/consume/{queue_name}"
INFO = "/examples/messaging/queue/{queue_name}/info"
MAX_BODY = 1048576


async def test_publish_without_queue_name_is_422(client: QuartClient) -> None:
    response = await client.post(PUBLISH, json={"a": 1})
    assert response.status_code == 422
    body = await response.get_json()
    assert_envelope(body, 422, "ValidationError")
    assert body["details"]["validation_errors"][0]["loc"] == ["query", "queue_name"]
    (await Contract.of(client)).check("POST", PUBLISH, 422, body)


@pytest.mark.parametrize("queue", ["", "has space", "slash/name", "star*", "é", "x" * 101, "new\nline"])
async def test_publish_bad_queue_name_is_422(client: QuartClient, queue: str) -> None:
    response = await client.post(PUBLISH, query_string={"queue_name": queue}, json={"a": 1})
    assert response.status_code == 422
    body = await response.get_json()
    assert_envelope(body, 422, "ValidationError")
    assert body["details"]["validation_errors"][0]["loc"][:2] == ["query", "queue_name"]


async def test_longest_queue_name_accepted(client: QuartClient, management: Management) -> None:
    longest = (unique("devstack-test-long") + "-" + "x" * 100)[:100]
    try:
        response = await client.post(PUBLISH, query_string={"queue_name": longest}, json={"a": 1})
        assert response.status_code == 200
        info = await (await client.get(f"/examples/messaging/queue/{longest}/info")).get_json()
        assert info["message_count"] == 1
    finally:
        await management.delete_queue(longest)


async def test_empty_object_is_400(client: QuartClient) -> None:
    queue = unique("devstack-test-never")
    response = await client.post(PUBLISH, query_string={"queue_name": queue}, json={})
    assert response.status_code == 400
    body = await response.get_json()
    assert_envelope(body, 400, "BadRequestError")
    (await Contract.of(client)).check("POST", PUBLISH, 400, body)
    # Nothing was declared for a rejected request.
    info = await (await client.get(f"/examples/messaging/queue/{queue}/info")).get_json()
    assert info["exists"] is False


@pytest.mark.parametrize("payload", [[1, 2], "text", 5, None, True])
async def test_non_object_body_is_422(client: QuartClient, payload: object) -> None:
    queue = unique("devstack-test-never")
    response = await client.post(PUBLISH, query_string={"queue_name": queue}, json=payload)
    assert response.status_code == 422
    body = await response.get_json()
    assert_envelope(body, 422, "ValidationError")
    assert body["details"]["validation_errors"][0]["loc"][0] == "body"


async def test_missing_and_malformed_body_is_422(client: QuartClient) -> None:
    queue = unique("devstack-test-never")
    missing = await client.post(PUBLISH, query_string={"queue_name": queue})
    assert missing.status_code == 422
    broken = await client.post(
        PUBLISH, query_string={"queue_name": queue}, data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert broken.status_code == 422
    assert_envelope(await broken.get_json(), 422, "ValidationError")


async def test_wrong_content_type_is_415(client: QuartClient) -> None:
    queue = unique("devstack-test-never")
    response = await client.post(
        PUBLISH, query_string={"queue_name": queue}, data=b'{"a": 1}', headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 415
    body = await response.get_json()
    assert_envelope(body, 415, "UnsupportedMediaTypeError")
    (await Contract.of(client)).check("POST", PUBLISH, 415, body)


async def test_body_over_one_megabyte_is_413(client: QuartClient) -> None:
    queue = unique("devstack-test-never")
    blob = '{"blob": "' + "x" * MAX_BODY + '"}'
    response = await client.post(
        PUBLISH, query_string={"queue_name": queue}, data=blob.encode(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    body = await response.get_json()
    assert_envelope(body, 413, "PayloadTooLargeError")
    (await Contract.of(client)).check("POST", PUBLISH, 413, body)


async def test_reserved_amq_prefix_is_400(client: QuartClient) -> None:
    response = await client.post(PUBLISH, query_string={"queue_name": "amq.devstack-test"}, json={"a": 1})
    assert response.status_code == 400
    assert_envelope(await response.get_json(), 400, "BadRequestError")


@pytest.mark.parametrize(
    "query", [{"max": "0"}, {"max": "101"}, {"max": "two"}, {"wait_ms": "-1"}, {"wait_ms": "5001"}, {"wait_ms": "1.5"}]
)
async def test_consume_bad_query_is_422(client: QuartClient, query: dict[str, str]) -> None:
    response = await client.post(f"/examples/messaging/consume/{unique('devstack-test-never')}", query_string=query)
    assert response.status_code == 422
    body = await response.get_json()
    assert_envelope(body, 422, "ValidationError")
    assert body["details"]["validation_errors"][0]["loc"] == ["query", next(iter(query))]
    (await Contract.of(client)).check("POST", CONSUME, 422, body)


@pytest.mark.parametrize("queue", ["star*", "x" * 101, "semi;colon"])
async def test_info_and_consume_bad_name_is_422(client: QuartClient, queue: str) -> None:
    for method, path in (
        ("GET", f"/examples/messaging/queue/{queue}/info"),
        ("POST", f"/examples/messaging/consume/{queue}"),
    ):
        response = await client.open(path, method=method)
        assert response.status_code == 422, path
        body = await response.get_json()
        assert body["details"]["validation_errors"][0]["loc"] == ["path", "queue_name"]
    (await Contract.of(client)).check("GET", INFO, 422, body)
