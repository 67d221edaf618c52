"""BackgroundOpener: the retry loop and the shutdown rules (pure asyncio, no backend)."""

from __future__ import annotations

import asyncio

from devstack.kit.opener import BackgroundOpener


class Client:
    def __init__(self, n: int) -> None:
        self.n = n
        self.closed = False
        self.discarded = False


class Backend:
    """Fails ``failures`` times, then answers after ``delay`` seconds."""

    def __init__(self, failures: int = 0, delay: float = 0.0) -> None:
        self.failures = failures
        self.delay = delay
        self.attempts = 0
        self.opened: list[Client] = []

    async def open(self) -> Client:
        self.attempts += 1
        await asyncio.sleep(self.delay)
        if self.attempts <= self.failures:
            raise ConnectionRefusedError("down")
        client = Client(self.attempts)
        self.opened.append(client)
        return client


async def close(client: Client, timeout: float) -> None:
    client.closed = True


def discard(client: Client) -> None:
    client.discarded = True


def opener_for(backend: Backend, opened: list[Client] | None = None, *, drops: bool = True) -> BackgroundOpener[Client]:
    """An opener on ``backend``; ``opened`` receives what ``on_open`` is called with;
    ``drops``: late clients go to ``discard`` (else ``close`` gets them)."""
    return BackgroundOpener(
        "test",
        "pool",
        open=backend.open,
        close=close,
        discard=discard if drops else None,
        timeout=1.0,
        retry_max_wait=0.05,
        on_open=(opened.append if opened is not None else None),
    )


async def test_retries_until_the_backend_answers_then_calls_on_open() -> None:
    backend, opened = Backend(failures=3), []
    opener = opener_for(backend, opened)
    opener.start()
    await asyncio.wait_for(opener._task, timeout=5)  # type: ignore[arg-type]
    client = opener.client
    assert client is not None
    assert backend.attempts == 4
    assert opened == [client]
    assert opener.opened.is_set()  # what a call waiting for the client waits on
    await opener.stop()
    assert client.closed and opener.client is None
    assert not opener.opened.is_set()


async def test_stop_while_an_attempt_connects_drops_what_it_opened() -> None:
    backend = Backend(delay=0.3)
    opener = opener_for(backend)
    opener.start()
    await asyncio.sleep(0.05)  # the attempt is connecting
    await opener.stop()
    assert len(backend.opened) == 1
    late = backend.opened[0]
    assert late.discarded and not late.closed
    assert opener.client is None


async def test_without_discard_what_a_late_attempt_opened_is_closed() -> None:
    backend = Backend(delay=0.3)
    opener = opener_for(backend, drops=False)
    opener.start()
    await asyncio.sleep(0.05)  # the attempt is connecting
    await opener.stop()
    assert len(backend.opened) == 1
    late = backend.opened[0]
    assert late.closed and not late.discarded
    assert opener.client is None


async def test_stop_while_the_backend_is_down_ends_the_retrying() -> None:
    backend = Backend(failures=10**6)
    opener = opener_for(backend)
    opener.start()
    await asyncio.sleep(0.2)
    await opener.stop()
    attempts = backend.attempts
    await asyncio.sleep(0.2)
    assert backend.attempts == attempts
    assert opener.client is None and backend.opened == []
