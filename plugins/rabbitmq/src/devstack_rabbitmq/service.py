"""The broker client of one application: a robust connection, a channel pool, queue operations.

One robust aio-pika connection (``RobustConnection``, what ``connect_robust`` builds)
lives for the whole application. A background task opens it, retrying with backoff, so a
broker that is down at startup does not fail startup (requests answer 503 until it is up).
Once open, aio-pika restores it (and its robust channels) by itself after a broker
restart or a closed connection.

Publishing uses aio-pika's documented pooling pattern: an ``aio_pika.pool.Pool`` of robust
channels with publisher confirms (each channel used by one publish at a time). Queue
declarations, passive declares and consumption use a short-lived plain channel each,
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
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any

import aio_pika
import aiormq
import httpx
from aio_pika.abc import AbstractRobustChannel, AbstractRobustConnection
from aio_pika.connection import make_url
from aio_pika.pool import Pool
from aiormq.abc import DeliveredMessage
from aiormq.exceptions import (
    AMQPError,
    ChannelInvalidStateError,
    ChannelLockedResource,
    ChannelNotFoundEntity,
    ChannelPreconditionFailed,
    PublishError,
)

from devstack.api import ApiError, HealthBody, Host, NotFound, ServiceUnavailable, health_body
from devstack_rabbitmq import framing, logfilter
from devstack_rabbitmq.consuming import Batch, acknowledge, give_back, take
from devstack_rabbitmq.management import ManagementClient
from devstack_rabbitmq.messages import OutgoingMessage, consumed_message, outgoing
from devstack_rabbitmq.metrics import RabbitMQMetrics
from devstack_rabbitmq.settings import RabbitMQSettings

log = logging.getLogger("devstack_rabbitmq")

SERVICE = "rabbitmq"
MANAGEMENT_SERVICE = "rabbitmq-management"
FIRST_RETRY_DELAY = 0.5
MAX_RETRY_DELAY = 5.0
CLOSE_TIMEOUT = 5.0
REOPEN_PAUSE = 0.05
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
class QueueInfo:
    message_count: int | None
    consumer_count: int | None


class RabbitMQService:
    """Everything the routes and the health check need from the broker."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.settings = host.settings(RabbitMQSettings)
        self.metrics: RabbitMQMetrics | None = None
        self.connection: AbstractRobustConnection | None = None
        self.channels: Pool[AbstractRobustChannel] | None = None
        self.credentials: Credentials | None = None
        self.management: ManagementClient | None = None
        self._declared: OrderedDict[str, None] = OrderedDict()
        self._connector: asyncio.Task[None] | None = None
        self._closing: set[asyncio.Task[None]] = set()
        self._first_attempt = asyncio.Event()  # set once the first connection attempt settled

    # lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        """Start connecting in the background; never raises because the broker is down."""
        logfilter.install()
        framing.install()
        self.management = ManagementClient(self.settings.management_url, self.settings.management_timeout)
        self._connector = asyncio.create_task(self._connect_until_up(), name="devstack-rabbitmq-connect")
        self.host.opening(SERVICE, self._first_attempt)

    async def stop(self) -> None:
        if self._connector is not None:
            self._connector.cancel()
            await asyncio.gather(self._connector, return_exceptions=True)
        closers: list[Any] = [asyncio.gather(*self._closing, return_exceptions=True)]
        if self.channels is not None:
            closers.append(self.channels.close())
        if self.connection is not None:
            closers.append(self.connection.close())
        if self.management is not None:
            closers.append(self.management.aclose())
        for closer in closers:
            with suppress(Exception, TimeoutError):
                async with asyncio.timeout(CLOSE_TIMEOUT):
                    await closer
        self.channels = None
        self.connection = None

    async def _connect_until_up(self) -> None:
        delay = FIRST_RETRY_DELAY
        while True:
            try:
                credentials = await self.resolve_credentials()
                connection = await self._connect(credentials)
            except Exception as exc:  # noqa: BLE001 - any failure: retry later
                self._first_attempt.set()
                log.warning(
                    "rabbitmq connection attempt failed",
                    extra={"error_type": type(exc).__name__, "retry_in_s": delay},
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_RETRY_DELAY)
                continue
            self.credentials = credentials
            self.channels = Pool(self._open_publish_channel, max_size=self.settings.channel_pool_size)
            self.connection = connection
            self._first_attempt.set()
            log.info("rabbitmq connected", extra={"vhost": credentials.vhost})
            return

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

    def _connected(self) -> AbstractRobustConnection:
        connection = self.connection
        if connection is None or connection.is_closed:
            raise ServiceUnavailable(SERVICE, "RabbitMQ connection is not established")
        return connection

    async def _open_publish_channel(self) -> AbstractRobustChannel:
        channel = self._connected().channel(publisher_confirms=True, on_return_raises=True)
        await channel.initialize()
        return channel

    async def _reconnected(self) -> AbstractRobustConnection:
        """The connection once aio-pika has it open again.

        While it is being re-established, waits at most ``reconnect_wait`` seconds (long
        enough for a closed connection to come back, short enough to answer 503 quickly
        while the broker is down).
        """
        connection = self._connected()
        if not connection.connected.is_set():
            try:
                async with asyncio.timeout(self.settings.reconnect_wait):
                    await connection.ready()
            except TimeoutError:
                raise ServiceUnavailable(SERVICE, "RabbitMQ connection is being re-established") from None
        return connection

    @asynccontextmanager
    async def _scratch_channel(self, wait: bool = True) -> AsyncIterator[aiormq.abc.AbstractChannel]:
        """A plain aiormq channel for one operation, closed afterwards (see the module
        docstring for why not an ``aio_pika.Channel``)."""
        channel = await self._open_scratch_channel(wait)
        try:
            yield channel
        finally:
            if not channel.is_closed:
                await channel.close()

    async def _open_scratch_channel(self, wait: bool = True) -> aiormq.abc.AbstractChannel:
        """Open a plain aiormq channel on the connection's current transport.

        With ``wait``, opening is retried while the connection is being re-established
        (nothing has been sent yet, so a retry cannot duplicate anything); the caller's
        ``host.backend`` timeout bounds the wait.
        """
        while True:
            connection = await self._reconnected() if wait else self._connected()
            try:
                transport = connection.transport
                if transport is None:
                    raise ChannelInvalidStateError("the connection has no transport")
                return await transport.connection.channel(publisher_confirms=False)
            except NOT_OPEN_ERRORS:
                if not wait:
                    raise
            await asyncio.sleep(REOPEN_PAUSE)

    def _close_later(self, channel: aiormq.abc.AbstractChannel) -> None:
        """Close a channel in the background: nothing may fail a request after its ack."""

        async def close() -> None:
            with suppress(Exception):
                await channel.close()

        task = asyncio.create_task(close(), name="devstack-rabbitmq-close-channel")
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    # publishing -----------------------------------------------------------------------
    async def publish(self, queue: str, body: bytes) -> None:
        """Publish a JSON body (see ``messages.encode_payload``) as a persistent message to a
        durable queue; returns once confirmed."""
        started = time.perf_counter()
        try:
            await self._publish(queue, outgoing(body))
        except BaseException:
            if self.metrics is not None:
                self.metrics.publish_failed.inc()
            raise
        if self.metrics is not None:
            self.metrics.publish_confirmed.inc()
            self.metrics.publish_duration.observe(time.perf_counter() - started)

    async def _publish(self, queue: str, message: OutgoingMessage) -> None:
        if self.channels is None:
            raise ServiceUnavailable(SERVICE, "RabbitMQ connection is not established")
        if queue not in self._declared:
            await self.declare(queue)
        try:
            await self._publish_once(self.channels, queue, message)
        except PublishError:
            # Returned as unroutable (mandatory): the queue was deleted since we declared it.
            self._declared.pop(queue, None)
            await self.declare(queue)
            await self._publish_once(self.channels, queue, message)

    async def _publish_once(self, pool: Pool[AbstractRobustChannel], queue: str, message: OutgoingMessage) -> None:
        """Publish on a pooled confirm channel and wait for the broker's confirm.

        Failures before the message is handed to a channel (the connection is being
        re-established, a new pool channel cannot open yet) are retried; failures after
        that are not, because the broker may already have the message. The frame goes
        through the channel's aiormq channel (``basic_publish``), which is what aio-pika's
        ``Exchange.publish`` does, without building an ``aio_pika.Message`` per request.
        """
        while True:
            await self._reconnected()
            handed_over = False
            try:
                async with pool.acquire() as channel:
                    await channel.ready()  # after a reconnection: wait until aio-pika has reopened it
                    underlay = await channel.get_underlay_channel()
                    if channel.is_closed or underlay.is_closed:
                        raise ChannelInvalidStateError("channel closed before publishing")
                    handed_over = True
                    await underlay.basic_publish(
                        message.body, routing_key=queue, properties=message.properties, mandatory=True
                    )
                    return
            except NOT_OPEN_ERRORS:
                if handed_over:
                    raise
            await asyncio.sleep(REOPEN_PAUSE)

    async def declare(self, queue: str) -> None:
        """Declare ``queue`` durable (idempotent) and remember that it exists."""
        async with self._scratch_channel() as channel:
            try:
                await channel.queue_declare(queue, durable=True)
            except ChannelPreconditionFailed:
                raise QueueConflict(
                    f"Queue {queue!r} exists with different properties (durability, auto-delete or arguments)"
                ) from None
            except ChannelLockedResource:
                raise QueueConflict(f"Queue {queue!r} is exclusive to another connection") from None
        self._declared[queue] = None
        self._declared.move_to_end(queue)
        while len(self._declared) > self.settings.declared_cache_size:
            self._declared.popitem(last=False)

    # reading --------------------------------------------------------------------------
    async def queue_info(self, queue: str) -> QueueInfo | None:
        """Counts of an existing queue (None when it does not exist)."""
        async with self._scratch_channel() as channel:
            try:
                result = await channel.queue_declare(queue, passive=True)
            except ChannelNotFoundEntity:
                return None
            except ChannelLockedResource:
                return QueueInfo(None, None)
        return QueueInfo(int(result.message_count or 0), int(result.consumer_count or 0))

    async def consume(self, queue: str, limit: int, wait_ms: int) -> list[bytes]:
        """Take up to ``limit`` messages, render each for the answer, then acknowledge them.

        Waits at most ``wait_ms`` for the first message; returns as soon as the queue is
        empty after at least one, or once the bodies taken reach ``consume_max_bytes``. A
        queue that does not exist is a 404.

        Nothing is acknowledged before every message taken is rendered (rendering never
        fails, whatever the body), and the acknowledgement is the last step that can fail:
        on any failure before it, everything taken goes back to the queue (basic.nack with
        requeue, and closing the channel requeues whatever is still unacknowledged).
        """
        settings = self.settings
        batch = Batch(limit, settings.consume_max_bytes, wait_ms / 1000, settings.consume_poll_ms / 1000)
        channel = await self._open_scratch_channel()
        taken: list[DeliveredMessage] = []
        try:
            try:
                await channel.queue_declare(queue, passive=True)
                await take(channel, queue, batch, taken)
            except ChannelNotFoundEntity:
                raise NotFound(f"Queue {queue!r} does not exist") from None
            except ChannelLockedResource:
                raise QueueConflict(f"Queue {queue!r} is exclusive to another connection") from None
            rendered = [consumed_message(message) for message in taken]
            await acknowledge(channel, taken)
        except BaseException:
            await give_back(channel, taken)
            raise
        self._close_later(channel)
        if self.metrics is not None and taken:
            self.metrics.consumed.inc(len(taken))
        return rendered

    async def list_queues(self) -> tuple[str, list[dict[str, Any]]]:
        """``(vhost, queues)`` from the management API."""
        if self.management is None:
            raise ServiceUnavailable(MANAGEMENT_SERVICE, "RabbitMQ management API client is not started")
        credentials = self.credentials or await self.resolve_credentials()
        user = self.settings.management_user or credentials.user
        secret = self.settings.management_password
        password = secret.get_secret_value() if secret is not None else credentials.password
        queues = await self.management.queues(credentials.vhost, httpx.BasicAuth(user, password))
        return credentials.vhost, sorted(queues, key=lambda entry: str(entry["name"]))

    # health ---------------------------------------------------------------------------
    async def health(self) -> HealthBody:
        """Healthy when the connection is up and the broker opens a channel."""
        connection = self.connection
        if connection is None or connection.is_closed:
            return health_body(False, error="RabbitMQ connection not established")
        try:
            async with self._scratch_channel(wait=False):
                pass
        except Exception as exc:  # noqa: BLE001 - the probe reports, never raises
            log.info("rabbitmq health probe failed", extra={"error_type": type(exc).__name__})
            return health_body(False, error="RabbitMQ connection failed")
        return health_body(True)


def service_of(host: Host) -> RabbitMQService:
    """The application's one service object (``host.state``)."""
    return host.state(RabbitMQService, lambda: RabbitMQService(host))
