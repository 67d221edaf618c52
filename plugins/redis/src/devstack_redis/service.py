"""The Redis clients of one application: created once at startup, closed at shutdown.

In cluster mode (``REDIS_NODES`` set) the data client is a ``RedisCluster`` over the
configured nodes and every node also gets a small direct client (health, node info,
cluster management). In standalone mode the data client is a ``Redis`` on ``REDIS_URL``
and serves as the only node. redis-py connects lazily: building the clients fails only
when the secrets provider cannot answer, and a Redis that is down answers 503 per call.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis, RedisCluster
from redis.asyncio.cluster import ClusterNode
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from devstack.api import BackgroundOpener, Host, ServiceUnavailable
from devstack_redis.metrics import RedisMetrics
from devstack_redis.settings import NodeAddress, RedisSettings

log = logging.getLogger("devstack_redis")

SERVICE = "redis"
NODE_POOL_SIZE = 8
CLOSE_TIMEOUT = 5.0
BACKOFF_CAP = 15.0

DataClient = Redis | RedisCluster


@dataclass(frozen=True)
class NodeClient:
    """A direct client to one node, with the name and address it was configured under."""

    name: str
    host: str
    port: int
    client: Redis


@dataclass(frozen=True)
class Clients:
    data: DataClient
    nodes: tuple[NodeClient, ...]
    pools: tuple[BlockingConnectionPool, ...]


class RedisService:
    """The plugin's state for one application (``host.state(RedisService)``).

    The clients are built by core's ``BackgroundOpener``: a secrets provider that cannot
    answer yet (the passwords) is retried with backoff, and startup never fails on it.
    """

    def __init__(self, host: Host) -> None:
        self.host = host
        self.settings = host.settings(RedisSettings)
        self.metrics = RedisMetrics()
        self._opened = asyncio.Event()
        self._opener: BackgroundOpener[Clients] = BackgroundOpener(
            SERVICE,
            "clients",
            open=self._open,
            close=close_clients,
            timeout=CLOSE_TIMEOUT,
            retry_max_wait=BACKOFF_CAP,
            on_open=lambda _clients: self._opened.set(),
        )

    # lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        """Resolve credentials and build the clients in the background.

        Waits up to ``startup_wait`` seconds so that a healthy setup serves from the
        first request; a Redis or secrets provider that is down never fails startup.
        """
        self._opener.start()
        self.host.opening(SERVICE, self._opener.first_attempt)
        if self.settings.startup_wait > 0:
            with suppress(TimeoutError):
                async with asyncio.timeout(self.settings.startup_wait):
                    await self._opened.wait()

    async def stop(self) -> None:
        """Stop building, close the clients (and any an attempt built too late), bounded."""
        await self._opener.stop()

    async def _open(self) -> Clients:
        """One attempt: the passwords from the secrets provider, the clients, a warm-up."""
        clients = await self._build()
        await self._warm_up(clients.data)
        return clients

    async def _warm_up(self, data: DataClient) -> None:
        """Learn the cluster topology (or open the first connection) once, best effort:
        the clients work without it, and answer 503 while Redis is down."""
        try:
            async with asyncio.timeout(self.settings.connect_timeout + self.settings.socket_timeout):
                if isinstance(data, RedisCluster):
                    await data.initialize()
                else:
                    await data.ping()
        except Exception as exc:  # noqa: BLE001 - requests will answer 503 until Redis is up
            log.warning("redis is not reachable yet", extra={"service": SERVICE, "error_type": type(exc).__name__})

    # building clients -----------------------------------------------------------------
    async def _password_of(self, service: str | None) -> str | None:
        if service is None:
            return None
        secret = await self.host.secrets(service)
        return secret.get("password") if secret else None

    async def _build(self) -> Clients:
        settings = self.settings
        if not settings.cluster_mode:
            return self._standalone()
        fallback = settings.cluster_password or settings.password
        cluster_service = settings.cluster_secrets_service()
        cluster_password = await self._password_of(cluster_service)
        if cluster_password is None and fallback is not None:
            cluster_password = fallback.get_secret_value()
        nodes: list[NodeClient] = []
        pools: list[BlockingConnectionPool] = []
        for node in settings.nodes:
            password = cluster_password
            if node.name != cluster_service:
                password = await self._password_of(node.name) or cluster_password
            pool = self._node_pool(node, password)
            pools.append(pool)
            nodes.append(NodeClient(node.name, node.host, node.port, Redis(connection_pool=pool)))
        cluster = RedisCluster(
            startup_nodes=[ClusterNode(node.host, node.port) for node in settings.nodes],
            password=cluster_password,
            max_connections=settings.max_connections,
            socket_timeout=settings.socket_timeout,
            socket_connect_timeout=settings.connect_timeout,
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), settings.cluster_retries),
        )
        return Clients(data=cluster, nodes=tuple(nodes), pools=tuple(pools))

    def _node_pool(self, node: NodeAddress, password: str | None) -> BlockingConnectionPool:
        return BlockingConnectionPool(
            host=node.host,
            port=node.port,
            password=password,
            max_connections=NODE_POOL_SIZE,
            timeout=self.settings.socket_timeout,
            socket_timeout=self.settings.socket_timeout,
            socket_connect_timeout=self.settings.connect_timeout,
        )

    def _standalone(self) -> Clients:
        settings = self.settings
        extra: dict[str, str] = {}
        if settings.password is not None:
            extra["password"] = settings.password.get_secret_value()
        pool = BlockingConnectionPool.from_url(
            settings.url,
            max_connections=settings.max_connections,
            timeout=settings.socket_timeout,
            socket_timeout=settings.socket_timeout,
            socket_connect_timeout=settings.connect_timeout,
            **extra,
        )
        client = Redis(connection_pool=pool)
        host, port = settings.standalone_address()
        return Clients(data=client, nodes=(NodeClient("standalone", host, port, client),), pools=(pool,))

    # access ---------------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        return self._opener.client is not None

    def _require(self) -> Clients:
        clients = self._opener.client
        if clients is None:
            raise ServiceUnavailable(SERVICE, "Redis connection is not established yet")
        return clients

    def data(self) -> DataClient:
        """The client of the cache examples, the pattern search and the shared cache."""
        return self._require().data

    def nodes(self) -> tuple[NodeClient, ...]:
        """Direct clients of every configured node (the standalone server in standalone mode)."""
        return self._require().nodes

    def node(self, name: str) -> NodeClient | None:
        return next((node for node in self._require().nodes if node.name == name), None)


async def close_clients(clients: Clients, timeout: float) -> None:
    """Close the data client, the node clients and their pools within ``timeout`` (best effort)."""
    try:
        async with asyncio.timeout(timeout):
            await clients.data.aclose()
            for node in clients.nodes:
                if node.client is not clients.data:
                    await node.client.aclose()
            for pool in clients.pools:
                await pool.disconnect()
    except Exception as exc:  # noqa: BLE001 - shutdown goes on
        log.warning("closing redis clients failed", extra={"service": SERVICE, "error_type": type(exc).__name__})


async def raw_command(client: Redis, *args: str) -> Any:
    """A command sent word by word (``"CLUSTER", "NODES"``): redis-py has no reply parser
    registered under ``CLUSTER`` alone, so the server's raw reply comes back."""
    return await client.execute_command(*args)  # type: ignore[no-untyped-call]


def service_of(host: Host) -> RedisService:
    """The application's RedisService, created on first use."""
    return host.state(RedisService, lambda: RedisService(host))
