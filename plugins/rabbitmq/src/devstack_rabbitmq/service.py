"""The broker client of one application: a robust connection, its channels, guarded calls.

One robust aio-pika connection (``RobustConnection``, what ``connect_robust`` builds)
lives for the whole application. Core's ``BackgroundOpener`` opens it, retrying with
backoff, so a broker that is down at startup does not fail startup (requests answer 503
until it is up). Once open, aio-pika restores it (and its robust channels) by itself
after a broker restart or a closed connection.

Publishing (``publishing``) uses a pool of robust confirm channels. Queue declarations,
passive declares and consumption (``queues``) use a short-lived plain channel each,
because a failed passive declare makes the broker close the channel it ran on. Those are
aiormq channels of the robust connection's current transport, not ``aio_pika.Channel``
objects: aio-pika (10.2) registers a close callback for every channel it opens on
``Connection.closing``, which aiormq (>= 7.2) creates anew at every access, so the
callback is never removed and each channel would stay in memory (~16 KiB) for as long
as the connection lives.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass

import aio_pika
import aiormq
from aio_pika.abc import AbstractRobustChannel, AbstractRobustConnection
from aio_pika.connection import make_url
from aio_pika.pool import Pool
from aiormq.exceptions import AMQPError, ChannelInvalidStateError

from devstack.api import ApiError, BackgroundOpener, Host, ServiceUnavailable
from devstack_rabbitmq import framing, logfilter
from devstack_rabbitmq.management import ManagementClient
from devstack_rabbitmq.metrics import RabbitMQMetrics
from devstack_rabbitmq.settings import RabbitMQSettings

log = logging.getLogger("devstack_rabbitmq")

SERVICE = "rabbitmq"
MANAGEMENT_SERVICE = "rabbitmq-management"
MAX_RETRY_DELAY = 5.0
CLOSE_TIMEOUT = 5.0
REOPEN_PAUSE = 0.05
NOT_ESTABLISHED = "RabbitMQ connection is not established"
# What opening a channel raises while the connection is closed or being re-established.
NOT_OPEN_ERRORS = (RuntimeError, AMQPError)


class QueueConflict(ApiError):
    """409: the queue exists with other properties, or is exclusive to another connection."""

    status_code = 409
    error = "ConflictError"


@dataclass(frozen=True)
class Credentials:
    user: str
    password: str
    vhost: str


@dataclass(frozen=True)
class Broker:
    """What one successful opening made: the connection, with the credentials it used
    and its pool of publisher-confirm channels."""

    connection: AbstractRobustConnection
    credentials: Credentials
    channels: Pool[AbstractRobustChannel]


async def close_broker(broker: Broker, timeout: float) -> None:
    """Close the channel pool, then the connection, each within ``timeout`` (best effort)."""
    for closer in (broker.channels.close, broker.connection.close):
        with suppress(Exception):
            async with asyncio.timeout(timeout):
                await closer()


class RabbitMQService:
    """The connection and everything the routes and the health check need from it."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.settings = host.settings(RabbitMQSettings)
        self.metrics = RabbitMQMetrics()
        self.management: ManagementClient | None = None
        self._closing: set[asyncio.Task[None]] = set()
        self._opener: BackgroundOpener[Broker] = BackgroundOpener(
            SERVICE,
            "connection",
            open=self._open,
            close=close_broker,
            timeout=CLOSE_TIMEOUT,
            retry_max_wait=MAX_RETRY_DELAY,
            on_open=lambda broker: log.info(
                "rabbitmq connected", extra={"service": SERVICE, "vhost": broker.credentials.vhost}
            ),
        )

    # lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        """Start connecting in the background; never raises because the broker is down."""
        logfilter.install()
        framing.install()
        self.management = ManagementClient(self.settings.management_url, self.settings.management_timeout)
        self._opener.start()
        self.host.opening(SERVICE, self._opener.first_attempt)

    async def stop(self) -> None:
        """Stop connecting, close the connection and the management client, each bounded."""
        with suppress(TimeoutError):  # the channels closing in the background first
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await asyncio.gather(*self._closing, return_exceptions=True)
        await self._opener.stop()
        if self.management is not None:
            with suppress(Exception):
                async with asyncio.timeout(CLOSE_TIMEOUT):
                    await self.management.aclose()

    async def _open(self) -> Broker:
        """One attempt: the credentials, then the connection."""
        credentials = await self.resolve_credentials()
        connection = await self._connect(credentials)
        channels: Pool[AbstractRobustChannel] = Pool(
            self._open_publish_channel, max_size=self.settings.channel_pool_size
        )
        return Broker(connection, credentials, channels)

    async def _connect(self, credentials: Credentials) -> AbstractRobustConnection:
        """What ``aio_pika.connect_robust`` does, but closing the connection object when the
        first attempt fails or is cancelled (at shutdown): ``connect_robust`` would leave
        its reconnection task running, and that task may still connect afterwards."""
        settings = self.settings
        url = make_url(
            host=settings.host,
            port=settings.port,
            login=credentials.user,
            password=credentials.password,
            virtualhost=credentials.vhost,
        )
        connection = aio_pika.RobustConnection(
            url,
            client_properties={"connection_name": settings.connection_name},
            reconnect_interval=settings.reconnect_interval,
        )
        try:
            await connection.connect(timeout=settings.connect_timeout)
        except BaseException:
            with suppress(Exception):
                await connection.close()
            raise
        return connection

    async def resolve_credentials(self) -> Credentials:
        """``secret/<secrets_service>`` from the secrets provider, else the settings."""
        fallback = self.settings
        secret = await self.host.secrets(fallback.secrets_service)
        if not secret:
            return Credentials(fallback.user, fallback.password.get_secret_value(), fallback.vhost)
        return Credentials(
            secret.get("user") or fallback.user,
            secret.get("password") or fallback.password.get_secret_value(),
            secret.get("vhost") or fallback.vhost,
        )

    # the guarded call -----------------------------------------------------------------
    @asynccontextmanager
    async def call(
        self, operation: str, *, service: str = SERVICE, timeout: float | None = None
    ) -> AsyncIterator[None]:
        """The block as one call of ``operation`` to ``service``: counted and timed, inside
        core's guard (circuit breaker, timeout, 503)."""
        async with self.metrics.calls.measured(operation), self.host.backend(service, timeout=timeout):
            yield

    # the connection -------------------------------------------------------------------
    @property
    def broker(self) -> Broker | None:
        """The open connection with its credentials and channel pool (None until opened)."""
        return self._opener.client

    def connected(self) -> AbstractRobustConnection:
        """The connection, unless it was never opened or is closed for good (then 503)."""
        broker = self._opener.client
        if broker is None or broker.connection.is_closed:
            raise ServiceUnavailable(SERVICE, NOT_ESTABLISHED)
        return broker.connection

    async def _open_publish_channel(self) -> AbstractRobustChannel:
        channel = self.connected().channel(publisher_confirms=True, on_return_raises=True)
        await channel.initialize()
        return channel

    async def reconnected(self) -> AbstractRobustConnection:
        """The connection once aio-pika has it open again.

        While it is being re-established, waits at most ``reconnect_wait`` seconds (long
        enough for a closed connection to come back, short enough to answer 503 quickly
        while the broker is down).
        """
        connection = self.connected()
        if not connection.connected.is_set():
            try:
                async with asyncio.timeout(self.settings.reconnect_wait):
                    await connection.ready()
            except TimeoutError:
                raise ServiceUnavailable(SERVICE, "RabbitMQ connection is being re-established") from None
        return connection

    @asynccontextmanager
    async def scratch_channel(self, wait: bool = True) -> AsyncIterator[aiormq.abc.AbstractChannel]:
        """A plain aiormq channel for one operation, closed afterwards (see the module
        docstring for why not an ``aio_pika.Channel``)."""
        channel = await self.open_scratch_channel(wait)
        try:
            yield channel
        finally:
            if not channel.is_closed:
                await channel.close()

    async def open_scratch_channel(self, wait: bool = True) -> aiormq.abc.AbstractChannel:
        """Open a plain aiormq channel on the connection's current transport.

        With ``wait``, opening is retried while the connection is being re-established
        (nothing has been sent yet, so a retry cannot duplicate anything); the caller's
        ``host.backend`` timeout bounds the wait.
        """
        while True:
            connection = await self.reconnected() if wait else self.connected()
            try:
                transport = connection.transport
                if transport is None:
                    raise ChannelInvalidStateError("the connection has no transport")
                return await transport.connection.channel(publisher_confirms=False)
            except NOT_OPEN_ERRORS:
                if not wait:
                    raise
            await asyncio.sleep(REOPEN_PAUSE)

    def close_later(self, channel: aiormq.abc.AbstractChannel) -> None:
        """Close a channel in the background: nothing may fail a request after its ack."""

        async def close() -> None:
            with suppress(Exception):
                await channel.close()

        task = asyncio.create_task(close(), name="devstack-rabbitmq-close-channel")
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)


def service_of(host: Host) -> RabbitMQService:
    """The application's one service object (``host.state``)."""
    return host.state(RabbitMQService, lambda: RabbitMQService(host))
