"""The messaging endpoints of one application (a new Blueprint per call)."""

from __future__ import annotations

from quart import Blueprint, Response, jsonify

from devstack.api import BadRequest, validated
from devstack_rabbitmq.messages import consume_answer, encode_payload, publish_answer
from devstack_rabbitmq.service import MANAGEMENT_SERVICE, SERVICE, RabbitMQService

RESERVED_PREFIX = "amq."
JSON = "application/json"


def build_blueprint(service: RabbitMQService) -> Blueprint:
    blueprint = Blueprint("rabbitmq", __name__, url_prefix="/examples/messaging")
    host = service.host

    @blueprint.post("/publish")
    async def publish() -> Response:
        inputs = validated()
        queue: str = inputs.query["queue_name"]
        message = inputs.body
        if not message:
            raise BadRequest("Message body must be a non-empty JSON object")
        if queue.startswith(RESERVED_PREFIX):
            raise BadRequest("Queue names starting with 'amq.' are reserved by the broker")
        # Outside the guard: a body that cannot be encoded is the client's 422, not a
        # backend failure that would count toward the breaker.
        body = encode_payload(message)
        async with host.backend(SERVICE):
            await service.publish(queue, body)
        return Response(publish_answer(queue, body), content_type=JSON)

    @blueprint.get("/queue/<queue_name>/info")
    async def queue_info(queue_name: str) -> Response:
        queue: str = validated().path["queue_name"]
        async with host.backend(SERVICE):
            info = await service.queue_info(queue)
        return jsonify(
            {
                "queue": queue,
                "exists": info is not None,
                "message_count": info.message_count if info is not None else None,
                "consumer_count": info.consumer_count if info is not None else None,
            }
        )

    @blueprint.post("/consume/<queue_name>")
    async def consume(queue_name: str) -> Response:
        inputs = validated()
        queue: str = inputs.path["queue_name"]
        limit: int = inputs.query["max"]
        wait_ms: int = inputs.query["wait_ms"]
        timeout = host.backend_timeout + wait_ms / 1000
        async with host.backend(SERVICE, timeout=timeout):
            messages = await service.consume(queue, limit, wait_ms)
        # Rendered before the acknowledgement, so the answer cannot fail after it.
        return Response(consume_answer(queue, messages), content_type=JSON)

    @blueprint.get("/queues")
    async def queues() -> Response:
        async with host.backend(MANAGEMENT_SERVICE, timeout=service.settings.management_timeout + 1):
            vhost, listed = await service.list_queues()
        return jsonify({"vhost": vhost, "queues": listed, "count": len(listed)})

    return blueprint
