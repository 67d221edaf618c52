"""Per-backend circuit breakers and the guard every backend call goes through."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from purgatory import AsyncCircuitBreakerFactory
from purgatory.domain.model import OpenedState

from devstack.errors import ApiError, ServiceUnavailable

log = logging.getLogger("devstack.breakers")

STATE_VALUES = {"closed": 0, "half-opened": 1, "opened": 2}


def is_client_error(exc: BaseException) -> bool:
    """4xx answers raised inside a guard are the caller's fault, not the backend's."""
    return isinstance(exc, ApiError) and exc.status_code < 500


StateListener = Callable[[str, str], None]


class Breakers:
    """One purgatory circuit breaker per backend service name.

    ``failure_threshold`` consecutive failures open a breaker; after ``reset_timeout``
    seconds one trial call is let through (half-open); its success closes the breaker.
    A call cancelled from outside (the client went away, the server is stopping) says
    nothing about the backend and is not counted as a failure.
    """

    def __init__(self, failure_threshold: int, reset_timeout: float) -> None:
        self.failure_threshold = failure_threshold
        self.reset_timeout = reset_timeout
        self._factory = AsyncCircuitBreakerFactory(
            default_threshold=failure_threshold,
            default_ttl=reset_timeout,
            exclude=[(ApiError, is_client_error), asyncio.CancelledError],
        )
        self._factory.add_listener(self._on_event)
        self._listeners: list[StateListener] = []
        self._states: dict[str, str] = {}

    def add_state_listener(self, listener: StateListener) -> None:
        """``listener(service, new_state)`` on every transition."""
        self._listeners.append(listener)

    def _on_event(self, name: str, event_type: str, event: Any) -> None:
        if event_type != "state_changed":
            return
        state = str(getattr(event, "state", "closed"))
        self._states[name] = state
        log.warning("circuit breaker state changed", extra={"service": name, "state": state})
        for listener in self._listeners:
            listener(name, state)

    def state(self, service: str) -> str:
        """``closed``, ``opened`` or ``half-opened``."""
        return self._states.get(service, "closed")

    def snapshot(self) -> dict[str, str]:
        return dict(self._states)

    @asynccontextmanager
    async def guard(self, service: str, timeout: float) -> AsyncIterator[None]:
        """Run a backend call: breaker check, timeout, failure accounting.

        Inside the block any exception but a 4xx ``ApiError`` counts as a backend
        failure and leaves as ``ServiceUnavailable`` (the original is logged by type
        only: driver messages can carry credentials).
        """
        breaker = await self._factory.get_breaker(service)
        try:
            async with breaker:
                async with asyncio.timeout(timeout):
                    yield
        except OpenedState:
            opened_at = breaker.context.opened_at or time.time()
            remaining = max(0.0, self.reset_timeout - (time.time() - opened_at))
            raise ServiceUnavailable(
                service,
                f"{service} is unavailable (circuit breaker open)",
                retry_after=remaining,
                reason="circuit_open",
            ) from None
        except ApiError:
            raise
        except TimeoutError:
            log.warning("backend call timed out", extra={"service": service, "timeout_s": timeout})
            raise ServiceUnavailable(service, f"{service} did not answer in time", reason="timeout") from None
        except Exception as exc:  # noqa: BLE001 - every backend failure becomes a 503
            log.warning("backend call failed", extra={"service": service, "error_type": type(exc).__name__})
            raise ServiceUnavailable(service, reason="backend_error") from None
