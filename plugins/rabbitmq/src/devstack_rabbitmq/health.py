"""GET /health/rabbitmq: the connection is up and the broker opens a channel on it."""

from __future__ import annotations

import logging

from devstack.api import HealthBody, HealthCheck, health_body
from devstack_rabbitmq.service import SERVICE, RabbitMQService

log = logging.getLogger("devstack_rabbitmq")

HEALTH_TIMEOUT = 5.0


def health_check(service: RabbitMQService) -> HealthCheck:
    """The plugin's one (critical) health check; not behind the circuit breaker."""

    async def probe() -> HealthBody:
        broker = service.broker
        if broker is None or broker.connection.is_closed:
            return health_body(False, error="RabbitMQ connection not established")
        try:
            async with service.scratch_channel(wait=False):
                pass
        except Exception as exc:  # noqa: BLE001 - the probe reports, never raises
            log.info("rabbitmq health probe failed", extra={"service": SERVICE, "error_type": type(exc).__name__})
            return health_body(False, error="RabbitMQ connection failed")
        return health_body(True)

    return HealthCheck(
        name=SERVICE,
        probe=probe,
        timeout=HEALTH_TIMEOUT,
        critical=True,
        description="AMQP connection to RabbitMQ opens a channel",
    )
