"""The ceiling: one Quart route, nothing else, on the same Hypercorn/uvloop stack."""

from quart import Quart, jsonify

app = Quart(__name__)


@app.get("/health/")
async def health() -> object:
    return jsonify({"status": "ok"})
