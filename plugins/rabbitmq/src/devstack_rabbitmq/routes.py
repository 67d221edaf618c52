"""The messaging endpoints of one application (a new Blueprint per call)."""

from __future__ import annotations

from quart import Blueprint, Response, jsonify

from devstack.api import BadRequest, validated
from devstack_rabbitmq.messages import consume_answer, encode_payload, publish_answer
from devstack_rabbitmq.publishing import Publisher
from devstack_rabbitmq.queues import Queues, info_answer
from devstack_rabbitmq.service import MANAGEMENT_SERVICE, RabbitMQService

RESERVED_PREFIX = "amq."
JSON = "application/json"


def build_blueprint(service: RabbitMQService) -> Blueprint:
    """Publish, queue info, consume and the queue list, under /examples/messaging.

    Every constraint on the inputs is in contract.yaml; handlers read the validated values.
    """
    blueprint = Blueprint("rabbitmq", __name__, url_prefix="/examples/messaging")
    publisher = Publisher(service)
    queues = Queues(service)

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
        async with service.call("publish"):
            await publisher.publish(queue, body)
        return Response(publish_answer(queue, body), content_type=JSON)

    @blueprint.get("/queue/<queue_name>/info")
    async def queue_info(queue_name: str) -> Response:
        queue: str = validated().path["queue_name"]
        async with service.call("queue_info"):
            info = await queues.info(queue)
        return jsonify(info_answer(queue, info))

    @blueprint.post("/consume/<queue_name>")
    async def consume(queue_name: str) -> Response:
        inputs = validated()
        queue: str = inputs.path["queue_name"]
        limit: int = inputs.query["max"]
        wait_ms: int = inputs.query["wait_ms"]
        timeout = service.host.backend_timeout + wait_ms / 1000
        async with service.call("consume", timeout=timeout):
            messages = await queues.consume(queue, limit, wait_ms)
        # Rendered before the acknowledgement, so the answer cannot fail after it.
        return Response(consume_answer(queue, messages), content_type=JSON)

    @blueprint.get("/queues")
    async def list_queues() -> Response:
        timeout = service.settings.management_timeout + 1
        async with service.call("list_queues", service=MANAGEMENT_SERVICE, timeout=timeout):
            vhost, listed = await queues.listed()
        return jsonify({"vhost": vhost, "queues": listed, "count": len(listed)})

    return blueprint
