"""The records routes of a database plugin, built per application around its service.

``GET /examples/database/<name>/query`` (the reference's query), ``POST
/examples/database/<name>`` (store a record) and ``GET /examples/database/<name>`` (a
newest-first page). Inputs arrive validated by core against the plugin's contract.
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response, jsonify

from devstack.contract.inputs import validated
from devstack.datastore.service import DatastoreService


def records_blueprint(service: DatastoreService[Any]) -> Blueprint:
    store = service.store
    database = store.product
    prefix = f"/examples/database/{store.name}"
    blueprint = Blueprint(store.name, __name__)

    @blueprint.get(f"{prefix}/query")
    async def query() -> Response:
        return jsonify({"database": database, **await service.query()})

    @blueprint.post(prefix)
    async def insert() -> tuple[Response, int]:
        body = validated().body
        store.check_value(body["value"])
        record = await service.insert(body["key"], body["value"])
        return jsonify({"database": database, **record}), 201

    @blueprint.get(prefix)
    async def list_records() -> Response:
        params = validated().query
        limit, offset = int(params["limit"]), int(params["offset"])
        page, total = await service.page(limit, offset)
        return jsonify(
            {
                "database": database,
                "items": page.items,
                "count": total,
                "limit": limit,
                "offset": offset,
                "truncated": page.truncated,
            }
        )

    return blueprint
