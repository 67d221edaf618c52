"""``GET /health/mongodb``: the server's version through the pool, or a fixed sentence."""

from __future__ import annotations

import asyncio
import logging

from devstack.api import HealthBody, HealthCheck, health_body
from devstack_mongodb.service import SERVICE, MongoService, NotReady

log = logging.getLogger("devstack.mongodb")

NOT_READY = "MongoDB client is not ready yet"
TIMED_OUT = "MongoDB did not answer in time"
FAILED = "MongoDB connection failed"


def health_check(service: MongoService) -> HealthCheck:
    """The plugin's one health check; its own timeout is shorter than core's bound."""
    timeout = service.settings.timeout

    async def probe() -> HealthBody:
        try:
            async with asyncio.timeout(timeout):
                version = await service.server_version()
        except NotReady:
            return health_body(False, error=NOT_READY)
        except TimeoutError:
            return health_body(False, error=TIMED_OUT)
        except Exception as exc:  # noqa: BLE001 - reported as a fixed sentence
            log.warning("MongoDB health probe failed", extra={"error_type": type(exc).__name__})
            return health_body(False, error=FAILED)
        if not service.ready:  # reachable, but the collection is not ensured yet
            return health_body(False, error=NOT_READY)
        return health_body(True, version=version)

    return HealthCheck(
        name=SERVICE,
        probe=probe,
        timeout=timeout + 1.0,
        critical=True,
        description="MongoDB answers buildInfo through the plugin's pool",
    )
