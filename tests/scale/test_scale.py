"""Three devstack instances behind HAProxy, on the real backends, sharing the local Redis.

tox env ``scale`` (``pytest -s``: the figures are printed). One cluster for the module:
three ``devstack serve`` processes with all six plugins, rate limits and the shared cache
in Redis under this run's own key prefix, HAProxy checking ``/health/ready`` in front,
Prometheus scraping each instance's ``/metrics``. The tests run in this order because
the later ones restart and kill instances (Prometheus counters restart from zero with a
process): rate limit, Vault freshness, Prometheus totals, rolling restart, SIGKILL.

Rate-limit tolerance: the limit is exact (one Redis counter, INCR is atomic) except for
requests the limiter let through because the shared storage failed or answered later
than DEVSTACK_RATE_LIMIT_STORAGE_TIMEOUT (fail open): those carry no X-RateLimit
headers, are counted and printed, and are the only extra requests allowed.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from dataclasses import dataclass

import httpx
import pytest

from ..support import unique
from .cluster import CHECK_INTERVAL, FALL, Instance
from .conftest import RATE_LIMIT, Cluster
from .load import Call, Load, Outcome, client_from, failures, sent_by_route, summary
from .monitoring import Prometheus

pytestmark = pytest.mark.slow


def by_instance(outcomes: list[Outcome]) -> dict[str, int]:
    return dict(sorted(Counter(o.served_by for o in outcomes).items()))


async def test_one_clients_rate_limit_holds_across_the_instances(cluster: Cluster) -> None:
    """150 requests of one client through HAProxy: 100 answered, the rest 429, whichever
    instance answers; one counter (the remaining counts go down one by one); a client
    writing its own X-Forwarded-For is still itself."""
    seen: list[tuple[int, str, str | None]] = []
    async with client_from("127.9.0.1", cluster.haproxy.url) as client:
        for turn in range(150):
            spoof = {"X-Forwarded-For": f"10.0.0.{turn % 200 + 1}"} if turn % 2 else {}
            answer = await client.get(f"/examples/cache/{cluster.cache_key}", headers=spoof)
            seen.append(
                (answer.status_code, answer.headers["X-Served-By"], answer.headers.get("X-RateLimit-Remaining"))
            )
    let_through = [s for s in seen if s[2] is None and s[0] == 200]  # storage failed: fail open
    limited = [s for s in seen if s[2] is not None]
    allowed = [s for s in limited if s[0] == 200]
    refused = [s for s in limited if s[0] == 429]
    print(
        f"\n[scale] rate limit {RATE_LIMIT}/minute, 150 requests of one client: {len(allowed)} answered "
        f"{by_instance_of(allowed)}, {len(refused)} refused {by_instance_of(refused)}, "
        f"{len(let_through)} let through without the storage (tolerance)"
    )
    assert len(allowed) + len(refused) + len(let_through) == 150, seen
    assert len(allowed) == RATE_LIMIT
    assert [s[0] for s in limited] == [200] * RATE_LIMIT + [429] * len(refused)  # the 101st and every later one
    assert [int(s[2] or 0) for s in allowed] == list(range(RATE_LIMIT - 1, -1, -1))  # one counter for all
    assert {s[1] for s in allowed} == {s[1] for s in refused} == {"i1", "i2", "i3"}


def by_instance_of(seen: list[tuple[int, str, str | None]]) -> dict[str, int]:
    return dict(sorted(Counter(s[1] for s in seen).items()))


async def test_a_secret_written_through_one_instance_is_read_fresh_through_the_others(cluster: Cluster) -> None:
    """Reads are cached in the shared cache (X-Cache: HIT); a write through any instance
    drops them for all: the next read through every other instance has the new value,
    also while other clients keep reading the secret through all three (a read that
    fetched the old value before the write must not store it for everyone after it)."""
    name = unique("scale-secret-")
    cluster.secrets.append(name)
    instances = cluster.instances
    # two clients of their own: each sends fewer than the general limit of a window
    async with client_from("127.9.1.1", instances[0].url) as one, client_from("127.9.1.2", instances[0].url) as two:
        secrets = SecretClient(one, name)
        await secrets.write(instances[0], "colour-0")
        for instance in instances:  # the first read stores, the others are cached
            await secrets.read(instance)
        assert [(await secrets.read(instance))[1] for instance in instances] == ["HIT"] * 3
        quiet = await secrets.rounds(instances, "quiet", 6)
        readers = Load(cluster.haproxy.url, secret_reads(name), cluster.addresses, workers=8).start()
        busy = await SecretClient(two, name).rounds(instances, "busy", 12)
        read_meanwhile = await readers.stop()
    stale = [failure for failure in quiet + busy if failure]
    print(
        f"\n[scale] vault: 18 writes, each through one instance, each followed by reads through both others "
        f"({len(read_meanwhile)} reads by 8 other clients meanwhile, {summary(read_meanwhile)}): "
        f"{len(stale)} stale reads"
    )
    assert not failures(read_meanwhile)
    assert not stale, stale


def secret_reads(name: str) -> list[Call]:
    return [
        Call("GET", f"/examples/vault/secret/{name}", "/examples/vault/secret/{service_name}"),
        Call("GET", f"/examples/vault/secret/{name}/colour", "/examples/vault/secret/{service_name}/{key}"),
    ]


@dataclass
class SecretClient:
    """Writes and reads of one secret, straight to one instance or another."""

    client: httpx.AsyncClient
    name: str

    async def write(self, instance: Instance, value: str) -> None:
        answer = await self.client.post(f"{instance.url}/examples/vault/secret/{self.name}", json={"colour": value})
        assert answer.status_code == 200, answer.text

    async def read(self, instance: Instance) -> tuple[tuple[str, str], str]:
        """Both routes' values, and the X-Cache of the second one."""
        whole = await self.client.get(f"{instance.url}/examples/vault/secret/{self.name}")
        key = await self.client.get(f"{instance.url}/examples/vault/secret/{self.name}/colour")
        assert whole.status_code == key.status_code == 200, (whole.text, key.text)
        return (whole.json()["data"]["colour"], key.json()["value"]), key.headers["X-Cache"]

    async def rounds(self, instances: list[Instance], label: str, count: int) -> list[str]:
        """``count`` writes, through each instance in turn, each followed by a read through
        the two others; what each stale read was (empty: fresh)."""
        outcomes = []
        for number in range(count):
            writer = instances[number % len(instances)]
            value = f"{label}-{number}"
            await self.write(writer, value)
            for reader in instances:
                if reader is not writer:
                    values, _ = await self.read(reader)
                    fresh = values == (value, value)
                    outcomes.append("" if fresh else f"{reader.name} read {values} after {value} via {writer.name}")
        return outcomes


async def test_prometheus_totals_over_the_instances_equal_the_requests_sent(cluster: Cluster) -> None:
    """A steady phase (no restarts, so no counter starts again from zero): the increase of
    sum by route of http_requests_total over the three instances, as Prometheus scraped
    it, is what the load generator sent; every acknowledged publish is in its queue."""
    prometheus = cluster.prometheus
    queue = cluster.new_queue()
    await asyncio.to_thread(prometheus.wait_scraped_since, time.time())
    before = route_totals(prometheus)
    load = cluster.load(queue).start()
    await asyncio.sleep(12)
    outcomes = await load.stop()
    finished = time.time()
    waited = await asyncio.to_thread(prometheus.wait_scraped_since, finished)
    after = route_totals(prometheus)
    sent = sent_by_route(outcomes)
    counted = {route: round(after.get(route, 0.0) - before.get(route, 0.0)) for route in sent}
    per_instance = prometheus.query('sum by (instance) (http_requests_total{job="devstack", endpoint=~"/examples/.*"})')
    print(f"\n[scale] steady load: {summary(outcomes)}")
    print(f"[scale] Prometheus (scraped {waited:.1f}s after the load): sent {dict(sent)}, counted {counted}")
    print(f"[scale] per instance: {[(s['metric']['instance'], s['value'][1]) for s in per_instance]}")
    assert not failures(outcomes), (failures(outcomes), cluster.haproxy.log()[-3000:])
    assert counted == dict(sent)
    assert sum(counted.values()) == len(outcomes)
    assert set(by_instance(outcomes)) == {"i1", "i2", "i3"}
    published = sum(1 for o in outcomes if o.call.route == "/examples/messaging/publish")
    assert cluster.queued(queue) == published
    # 6 ready checks a second from one address all along: probes are not rate limited
    assert {name: row["chkdown"] for name, row in cluster.haproxy.stats().items()} == dict.fromkeys(
        ("i1", "i2", "i3"), "0"
    )


def route_totals(prometheus: Prometheus) -> dict[str, float]:
    samples = prometheus.query('sum by (endpoint) (http_requests_total{job="devstack"})')
    return {sample["metric"]["endpoint"]: float(sample["value"][1]) for sample in samples}


@dataclass(frozen=True)
class Stop:
    """What happened to one instance stopped under load (monotonic times)."""

    name: str
    signalled: float
    out_after: float  # seconds until HAProxy took it out
    exit_code: int | None = None
    exited_after: float | None = None
    back_after: float | None = None  # seconds until HAProxy had the new process in again


def restart(cluster: Cluster, instance: Instance) -> Stop:
    """SIGTERM, wait until HAProxy has it out and the process has exited, start it again on
    its port, wait until HAProxy sends to it again."""
    signalled = time.monotonic()
    instance.signal(signal.SIGTERM)
    out_after = cluster.haproxy.wait_state(instance.name, "DOWN", timeout=10)
    exit_code = instance.wait_exit(30)
    exited_after = time.monotonic() - signalled
    instance.start()
    cluster.haproxy.wait_state(instance.name, "UP", timeout=30)
    return Stop(instance.name, signalled, out_after, exit_code, exited_after, time.monotonic() - signalled)


def answered_while_stopping(outcomes: list[Outcome], stop: Stop) -> list[Outcome]:
    """Requests the instance answered after it was signalled and before it exited: the
    ones in flight then, and those it kept taking during DEVSTACK_SHUTDOWN_DELAY."""
    assert stop.exited_after is not None
    exited = stop.signalled + stop.exited_after
    return [o for o in outcomes if o.served_by == stop.name and o.ended > stop.signalled and o.started < exited]


async def test_a_rolling_restart_under_load_fails_no_request(cluster: Cluster) -> None:
    """Each instance in turn: SIGTERM, out of HAProxy, exit 0, started again, back in.
    The client sees no failed request, and every request in flight at an instance when
    it was told to stop was answered by it."""
    queue = cluster.new_queue()
    load = cluster.load(queue).start()
    await load.flowing(cluster.instances[0].name)
    stops = [await asyncio.to_thread(restart, cluster, instance) for instance in cluster.instances]
    await asyncio.sleep(2)
    outcomes = await load.stop()
    failed = [o for o in outcomes if not o.ok]
    print(f"\n[scale] rolling restart: {summary(outcomes)}")
    for stop in stops:
        held = [o for o in outcomes if o.served_by == stop.name and o.started < stop.signalled < o.ended]
        answered = answered_while_stopping(outcomes, stop)
        print(
            f"[scale]   {stop.name}: out of HAProxy {stop.out_after:.2f}s after SIGTERM, exit {stop.exit_code} "
            f"after {stop.exited_after:.1f}s, back in after {stop.back_after:.1f}s; {len(held)} requests in flight "
            f"at SIGTERM, {len(answered)} answered while stopping, all completed"
        )
        assert stop.exit_code == 0
        assert all(o.ok for o in answered)
    assert not failed, failures(outcomes)
    published = sum(1 for o in outcomes if o.call.route == "/examples/messaging/publish")
    assert cluster.queued(queue) == published  # nothing acknowledged was lost
    assert sum(len(answered_while_stopping(outcomes, stop)) for stop in stops) > 0  # the drain was exercised


async def test_a_killed_instance_is_taken_out_and_costs_only_what_it_held(cluster: Cluster) -> None:
    """SIGKILL under load: HAProxy takes the instance out within its check interval (plus
    the time of one check on this machine), and only requests open at that instance when
    it died fail. HAProxy does not replay a request the server may have acted on: it
    answers 502 (logged, naming the server), or, for a request that was not the first
    on its client connection, closes that connection without an answer and without a
    log line, as a server's keep-alive close would, so that the client may retry it. A
    request whose connection was refused is sent again to another instance. Every
    acknowledged publish is kept."""
    queue = cluster.new_queue()
    victim = cluster.instances[1]
    load = cluster.load(queue).start()
    await load.flowing(victim.name, count=30)
    killed = time.monotonic()
    victim.signal(signal.SIGKILL)
    out_after = await asyncio.to_thread(cluster.haproxy.wait_state, victim.name, "DOWN", 10)
    await asyncio.sleep(3)
    outcomes = await load.stop()
    routed = cluster.haproxy.request_log({o.request_id for o in outcomes})
    failed = [o for o in outcomes if not o.ok]
    logged = [o for o in failed if o.request_id in routed]
    unanswered = [o for o in failed if o.request_id not in routed]
    sent_again = [o for o in outcomes if o.ok and o.started < killed + out_after and routed[o.request_id].retries]
    after = [o for o in outcomes if o.started > killed + out_after]
    print(f"\n[scale] SIGKILL of {victim.name}: {summary(outcomes)}")
    how = dict(Counter((o.status or o.error, routed[o.request_id]) for o in logged))
    print(
        f"[scale]   out of HAProxy {out_after:.2f}s after SIGKILL (check interval {CHECK_INTERVAL}s, fall {FALL}); "
        f"{len(failed)} failed: {len(logged)} answered by HAProxy {how}, {len(unanswered)} connections closed "
        f"without an answer; {len(sent_again)} sent again to another instance and answered; "
        f"{len(after)} sent after it was out, {sum(not o.ok for o in after)} failed"
    )
    assert victim.wait_exit(5) == -signal.SIGKILL
    assert out_after <= CHECK_INTERVAL * FALL + 1.5
    assert failed or sent_again, "no request was open at the killed instance: the test proved nothing"
    assert all(o.started < killed + out_after and o.ended > killed for o in failed), failures(outcomes)
    assert all(routed[o.request_id].server == victim.name for o in logged), failures(outcomes)
    assert all(o.error == "RemoteProtocolError" for o in unanswered), failures(outcomes)
    assert all(o.request_id in routed for o in outcomes if o.ok)  # HAProxy's log is complete otherwise
    assert after and not failures(after)
    acknowledged = sum(1 for o in outcomes if o.call.route == "/examples/messaging/publish" and o.ok)
    failed_publishes = sum(1 for o in failed if o.call.route == "/examples/messaging/publish")
    assert acknowledged <= cluster.queued(queue) <= acknowledged + failed_publishes
