"""The plugin's HTTP endpoints, built per application around its service."""

from __future__ import annotations

from quart import Blueprint, Response, jsonify

from devstack.api import invalid, validated
from devstack_mongodb.records import UnstorableValue
from devstack_mongodb.service import MongoService

DATABASE = "MongoDB"
BASE = "/examples/database/mongodb"


def build_blueprint(service: MongoService) -> Blueprint:
    """``GET {BASE}/query``, ``POST {BASE}`` and ``GET {BASE}``; inputs are validated by core."""
    blueprint = Blueprint("mongodb", __name__)

    @blueprint.get(f"{BASE}/query")
    async def query() -> Response:
        names = await service.collection_names()
        return jsonify({"database": DATABASE, "collections": names, "count": len(names)})

    @blueprint.post(BASE)
    async def create_record() -> tuple[Response, int]:
        body = validated().body
        try:
            record = await service.insert(body["key"], body["value"])
        except UnstorableValue:
            raise invalid(["body", "value"], "Value must be plain JSON (no NaN or infinite numbers)") from None
        return jsonify({"database": DATABASE, **record.as_json()}), 201

    @blueprint.get(BASE)
    async def list_records() -> Response:
        query = validated().query
        limit, offset = int(query["limit"]), int(query["offset"])
        records, total, truncated = await service.list_records(limit, offset)
        items = [record.as_json() for record in records]
        return jsonify(
            {
                "database": DATABASE,
                "items": items,
                "count": total,
                "limit": limit,
                "offset": offset,
                "truncated": truncated,
            }
        )

    return blueprint
