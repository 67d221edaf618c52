"""The HTTP endpoints, built per application around its service."""

from __future__ import annotations

from quart import Blueprint, Response, jsonify

from devstack.api import validated
from devstack_mysql.service import NOW_QUERY, MysqlService
from devstack_mysql.values import check_storable

DATABASE = "MySQL"
PREFIX = "/examples/database/mysql"


def build_blueprint(service: MysqlService) -> Blueprint:
    """GET …/query (reference), POST … (store a record), GET … (list records)."""
    blueprint = Blueprint("mysql", __name__)

    @blueprint.get(f"{PREFIX}/query")
    async def query() -> Response:
        result = await service.now()
        return jsonify({"database": DATABASE, "query": NOW_QUERY, "result": result})

    @blueprint.post(PREFIX)
    async def insert() -> tuple[Response, int]:
        body = validated().body
        check_storable(body["value"])
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
