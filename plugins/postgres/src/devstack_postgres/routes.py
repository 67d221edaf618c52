"""The HTTP endpoints, built per application around its service."""

from __future__ import annotations

from quart import Blueprint, Response, jsonify

from devstack.api import validated
from devstack_postgres.service import NOW_QUERY, PostgresService

DATABASE = "PostgreSQL"
PREFIX = "/examples/database/postgres"


def build_blueprint(service: PostgresService) -> Blueprint:
    """GET …/query (reference), POST … (store a record), GET … (list records)."""
    blueprint = Blueprint("postgres", __name__)

    @blueprint.get(f"{PREFIX}/query")
    async def query() -> Response:
        result = await service.now()
        return jsonify({"database": DATABASE, "query": NOW_QUERY, "result": result})

    @blueprint.post(PREFIX)
    async def insert() -> tuple[Response, int]:
        body = validated().body
        record = await service.insert(body["key"], body["value"])
        return jsonify({"database": DATABASE, **record}), 201

    @blueprint.get(PREFIX)
    async def list_records() -> Response:
        params = validated().query
        items, total, truncated = await service.page(params["limit"], params["offset"])
        return jsonify(
            {
                "database": DATABASE,
                "items": items,
                "count": total,
                "limit": params["limit"],
                "offset": params["offset"],
                "truncated": truncated,
            }
        )

    return blueprint
