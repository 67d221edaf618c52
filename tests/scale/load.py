"""The load generator of the multi-instance test: httpx clients, each from its own address.

A client of devstack behind HAProxy is the address HAProxy sees (it passes it on in
X-Forwarded-For, which devstack trusts from HAProxy's address only). Every simulated client
here connects from its own loopback address (127.a.b.c, all of them on ``lo``) and sends
at most ``PER_CLIENT`` requests, fewer than the general limit of one window: the load
measures the instances, not the rate limiter. The rate-limit test uses one address.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from .cluster import HOST_HEADER

PER_CLIENT = 90
TIMEOUT = 30.0


@dataclass(frozen=True)
class Call:
    """One kind of request: what is sent, and the route template the metrics label it with."""

    method: str
    path: str
    route: str
    params: dict[str, str] | None = None
    json: dict[str, Any] | None = None


@dataclass(frozen=True)
class Outcome:
    call: Call
    started: float  # time.monotonic()
    ended: float
    status: int  # 0: no HTTP answer (the exception's type is in error)
    served_by: str  # HAProxy's server name (X-Served-By)
    request_id: str
    error: str = ""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def mix(secret: str, queue: str, cache_key: str) -> list[Call]:
    """Every plugin's backend, reads and writes (no consume: it takes messages)."""
    return [
        Call("GET", "/examples/database/postgres/query", "/examples/database/postgres/query"),
        Call("GET", "/examples/database/mysql/query", "/examples/database/mysql/query"),
        Call("GET", "/examples/database/mongodb/query", "/examples/database/mongodb/query"),
        Call("GET", f"/examples/cache/{cache_key}", "/examples/cache/{key}"),
        Call("POST", f"/examples/cache/{cache_key}", "/examples/cache/{key}", params={"value": "v", "ttl": "120"}),
        Call("GET", f"/examples/vault/secret/{secret}", "/examples/vault/secret/{service_name}"),
        Call(
            "POST",
            "/examples/messaging/publish",
            "/examples/messaging/publish",
            params={"queue_name": queue},
            json={"load": "scale"},
        ),
    ]


class Addresses:
    """Loopback source addresses 127.<first>.x.y, one per simulated client."""

    def __init__(self, first: int) -> None:
        self._numbers: Iterator[int] = iter(range(1, 65_000))
        self.first = first

    def next(self) -> str:
        number = next(self._numbers)
        return f"127.{self.first}.{number // 250}.{number % 250 + 1}"


@asynccontextmanager
async def client_from(address: str, base_url: str) -> Any:
    """An httpx client whose connections leave from ``address``."""
    # plain HTTP: verify=False only spares loading a CA bundle for every simulated client
    transport = httpx.AsyncHTTPTransport(local_address=address, retries=0, verify=False)
    async with httpx.AsyncClient(
        transport=transport, base_url=base_url, timeout=TIMEOUT, headers={"Host": HOST_HEADER}
    ) as client:
        yield client


@dataclass
class Load:
    """``workers`` concurrent loops sending the calls round robin until stopped."""

    base_url: str
    calls: list[Call]
    addresses: Addresses
    workers: int = 16
    outcomes: list[Outcome] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _prefix: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    _numbers: Iterator[int] = field(default_factory=itertools.count)

    def start(self) -> Load:
        self._tasks = [asyncio.create_task(self._worker(index)) for index in range(self.workers)]
        return self

    async def flowing(self, served_by: str, count: int = 10, timeout: float = 60.0) -> None:
        """Return once ``served_by`` has answered ``count`` requests of this load (clients
        take a while to start on a busy machine)."""
        deadline = time.monotonic() + timeout
        while sum(1 for o in self.outcomes if o.served_by == served_by) < count:
            assert time.monotonic() < deadline, f"{served_by} answered fewer than {count} requests in {timeout}s"
            await asyncio.sleep(0.05)

    async def stop(self) -> list[Outcome]:
        """Let every request in flight finish, then return all outcomes."""
        self._stop.set()
        await asyncio.gather(*self._tasks)
        return self.outcomes

    async def _worker(self, index: int) -> None:
        turn = index
        while not self._stop.is_set():
            async with client_from(self.addresses.next(), self.base_url) as client:
                for _ in range(PER_CLIENT):
                    if self._stop.is_set():
                        return
                    request_id = f"{self._prefix}-{next(self._numbers)}"
                    self.outcomes.append(await send(client, self.calls[turn % len(self.calls)], request_id))
                    turn += 1


async def send(client: httpx.AsyncClient, call: Call, request_id: str) -> Outcome:
    started = time.monotonic()
    headers = {"X-Request-ID": request_id}
    try:
        answer = await client.request(call.method, call.path, params=call.params, json=call.json, headers=headers)
    except httpx.HTTPError as exc:
        return Outcome(call, started, time.monotonic(), 0, "", request_id, type(exc).__name__)
    served_by = answer.headers.get("X-Served-By", "")
    return Outcome(call, started, time.monotonic(), answer.status_code, served_by, request_id)


def summary(outcomes: list[Outcome]) -> str:
    """``N requests, R/s, statuses {...}, by instance {...}`` for the report lines."""
    if not outcomes:
        return "0 requests"
    seconds = max(o.ended for o in outcomes) - min(o.started for o in outcomes)
    statuses = Counter(o.status for o in outcomes)
    served = Counter(o.served_by for o in outcomes)
    latencies = sorted(o.ended - o.started for o in outcomes)
    p99 = latencies[int(len(latencies) * 0.99) - 1] if len(latencies) >= 100 else latencies[-1]
    return (
        f"{len(outcomes)} requests in {seconds:.1f}s ({len(outcomes) / max(seconds, 1e-9):.0f}/s), "
        f"p99 {p99 * 1000:.0f} ms, statuses {dict(sorted(statuses.items()))}, "
        f"served by {dict(sorted(served.items()))}"
    )


def failures(outcomes: list[Outcome]) -> list[str]:
    """The failed requests, readable: request id, what it was, what came back."""
    return [f"{o.request_id} {o.call.method} {o.call.route}: {o.status or o.error}" for o in outcomes if not o.ok]


def sent_by_route(outcomes: list[Outcome]) -> Counter[str]:
    """Requests sent, by route template."""
    return Counter(o.call.route for o in outcomes)
