"""Per-backend circuit breakers and the guard every backend call goes through."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import jsonschema
import pydantic
import pydantic_core
from purgatory import AsyncCircuitBreakerFactory
from purgatory.domain.model import OpenedState

from devstack.foundation.errors import ApiError, ServiceUnavailable, ValidationFailed, invalid

if TYPE_CHECKING:  # not among purgatory's public names: get_breaker returns one
    from purgatory.service._async.circuitbreaker import AsyncCircuitBreaker

log = logging.getLogger("devstack.breakers")

STATE_VALUES = {"closed": 0, "half-opened": 1, "opened": 2}


# Errors about the request's data, never the backend's: validation errors, and the
# errors of encoding data on its way out (JSON that pydantic or the standard encoder
# cannot write, text that cannot be encoded).
VALIDATION_ERRORS = (jsonschema.ValidationError, pydantic.ValidationError, pydantic_core.PydanticSerializationError)
JSON_ENCODER_MODULE = "json.encoder"
ENCODER_ERRORS = (TypeError, ValueError, RecursionError, OverflowError)


def raised_in(exc: BaseException) -> str:
    """The module of the innermost Python frame of ``exc``'s traceback (where it was
    raised, or the Python caller of the C function that raised it)."""
    tb = exc.__traceback__
    if tb is None:
        return ""
    while tb.tb_next is not None:
        tb = tb.tb_next
    return str(tb.tb_frame.f_globals.get("__name__", ""))


def is_client_error(exc: BaseException) -> bool:
    """Whether an exception raised inside a guard is about the request, not the
    backend (see ``Breakers.guard``)."""
    if isinstance(exc, ApiError):
        return exc.status_code < 500
    if isinstance(exc, (*VALIDATION_ERRORS, UnicodeEncodeError)):
        return True
    return isinstance(exc, ENCODER_ERRORS) and raised_in(exc) == JSON_ENCODER_MODULE


def unusable_data(service: str) -> ValidationFailed:
    return invalid(["body"], f"The request's data cannot be prepared for {service}")


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
            exclude=[asyncio.CancelledError, (Exception, is_client_error)],
        )
        self._factory.add_listener(self._on_event)
        self._listeners: list[StateListener] = []
        self._states: dict[str, str] = {}
        # purgatory's get_breaker looks the context up and wraps it anew on every call;
        # its in-memory store hands out the same context each time, so one wrapper per
        # service serves every call (service names come from plugins' code, not requests)
        self._breakers: dict[str, AsyncCircuitBreaker] = {}

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

        Only backend faults count toward the breaker. Errors about the request never
        do, whatever the block was doing when they happened:

        - a 4xx ``ApiError`` leaves as it is;
        - a validation error (jsonschema ``ValidationError``, pydantic
          ``ValidationError`` and ``PydanticSerializationError``), an error raised by
          the standard JSON encoder (``json.dumps`` of a value it cannot write: a
          ``TypeError``, ``ValueError`` or ``RecursionError`` from ``json.encoder``,
          also when a driver calls it) and a ``UnicodeEncodeError`` (text no encoder
          takes) leave as a 422 ``ValidationFailed``.

        Everything else counts and leaves as a 503 ``ServiceUnavailable``: connection
        and OS errors, timeouts, every driver's own exceptions (asyncpg, aiomysql,
        pymongo, redis, aio-pika, hvac; those that subclass ``ValueError`` too), errors
        decoding what a backend answered, and a plugin's own ``ValueError`` about an
        unexpected answer. A 5xx ``ApiError`` counts and leaves as it is. The original
        is logged by type only: driver messages can carry credentials.
        """
        breaker = self._breakers.get(service)
        if breaker is None:
            breaker = self._breakers[service] = await self._factory.get_breaker(service)
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
            if is_client_error(exc):
                log.info(
                    "client data refused for a backend", extra={"service": service, "error_type": type(exc).__name__}
                )
                raise unusable_data(service) from None
            log.warning("backend call failed", extra={"service": service, "error_type": type(exc).__name__})
            raise ServiceUnavailable(service, reason="backend_error") from None
