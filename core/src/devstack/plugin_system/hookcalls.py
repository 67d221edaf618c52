"""Calling hooks through pluggy with per-plugin isolation.

Every hook is called as pluggy documents it (``pm.hook.devstack_x(...)``), so that
``tryfirst``/``trylast``, hook wrappers, ``add_hookcall_monitoring`` and pluggy's tracing
work unchanged. Isolation is attached to each plugin's implementations when the plugin is
registered: pluggy is handed :meth:`HookCalls.isolated`, the plugin's implementations
each wrapped in a function that attributes a failure to its plugin (and, for an
awaitable result, a :class:`PluginCall` that does the same when awaited). What a
failure means depends on when the hook is called:

- build and startup hooks (``BUILD_HOOKS``, ``devstack_startup``): the plugin is marked
  failed and taken out (fatal in strict mode); its answer is dropped;
- request-time and provider hooks: an ``ApiError`` (say a 503 from a secrets provider
  whose backend is down) is the provider's answer and reaches the caller; any other
  exception is logged with its traceback (redacted) and counts as no answer;
- ``devstack_shutdown``: logged, and the other plugins still shut down.

Startup and shutdown run under ``DEVSTACK_PLUGIN_LIFECYCLE_TIMEOUT``; a plugin that
overruns is failed (startup) or logged (shutdown) and the rest go on.

Provider hooks (secrets, cache backend, TLS certificate) follow one policy, written once
in :func:`first_answer`: implementations are asked in pluggy's order and the first that
answers something other than None wins.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import time
import types
from collections.abc import Awaitable, Callable, Generator
from typing import Any, Protocol

import pluggy

from devstack.foundation.errors import ApiError
from devstack.plugin_system.failures import PluginTimeout
from devstack.plugin_system.records import PluginRecord

log = logging.getLogger("devstack.plugins")

BUILD_HOOKS = frozenset(
    {
        "devstack_settings",
        "devstack_secret_services",
        "devstack_contract",
        "devstack_routes",
        "devstack_health_checks",
        "devstack_metrics",
        "devstack_cache_backend",
    }
)
PHASES = {
    "devstack_settings": "settings",
    "devstack_secret_services": "secret services",
    "devstack_contract": "contract",
    "devstack_routes": "routes",
    "devstack_health_checks": "health checks",
    "devstack_metrics": "metrics",
    "devstack_cache_backend": "cache backend",
    "devstack_startup": "startup",
    "devstack_shutdown": "shutdown",
    "devstack_root_info": "root info",
    "devstack_secrets": "secrets",
    "devstack_tls_certificate": "TLS certificate",
}
LIFECYCLE_HOOKS = frozenset({"devstack_startup", "devstack_shutdown"})
# answers that are never awaitable, told by their exact type before inspect.isawaitable's
# abstract-class check (a dict or a list is what most hooks answer, several per request)
PLAIN_ANSWERS = frozenset({dict, list, tuple, str, bytes, int, float, bool, type(None)})


class PluginCall:
    """The awaitable one plugin's async hook implementation returned, isolated.

    Awaiting it gives the implementation's answer, or None when it failed (the failure
    handled as the module docstring says). ``plugin`` names the plugin, so callers (and
    hook wrappers) can tell answers apart.
    """

    __slots__ = ("_awaitable", "_calls", "hook", "plugin", "record")

    def __init__(self, calls: HookCalls, record: PluginRecord, hook: str, awaitable: Awaitable[Any]) -> None:
        self._calls = calls
        self.record = record
        self.plugin = record.name
        self.hook = hook
        self._awaitable = awaitable

    def __await__(self) -> Generator[Any, None, Any]:
        return self._run().__await__()

    def close(self) -> None:
        """Drop the call without running it (a provider after the first answer)."""
        if inspect.iscoroutine(self._awaitable):
            self._awaitable.close()

    async def _run(self) -> Any:
        started = time.perf_counter()
        timeout = self._calls.lifecycle_timeout if self.hook in LIFECYCLE_HOOKS else None
        try:
            async with asyncio.timeout(timeout):
                result = await self._awaitable
        except TimeoutError:
            return self._calls.failed(
                self.record, self.hook, PluginTimeout(PHASES.get(self.hook, self.hook), timeout or 0.0)
            )
        except ApiError as exc:
            if self.hook in LIFECYCLE_HOOKS:
                return self._calls.failed(self.record, self.hook, exc)
            raise  # a provider's answer (503 when its backend is down): the caller's to handle
        except Exception as exc:  # noqa: BLE001 - isolation
            return self._calls.failed(self.record, self.hook, exc)
        self._calls.traced(self.record, self.hook, started, result)
        return result


class Registry(Protocol):
    """What hook calls need of the plugin registry (``devstack.plugin_system.registry``,
    which builds on this module): its pluggy manager and how to fail a plugin."""

    pm: pluggy.PluginManager

    def fail(self, record: PluginRecord, phase: str, exc: BaseException, detail: str | None = None) -> None: ...


class HookCalls:
    """What isolation needs of the registry: how to fail a plugin, timeouts, tracing."""

    def __init__(self, registry: Registry, lifecycle_timeout: float = 30.0, trace: bool = False) -> None:
        self.registry = registry
        self.lifecycle_timeout = lifecycle_timeout
        self.trace = trace
        self._collecting: list[tuple[str, list[tuple[str, Any]]]] = []

    # calling --------------------------------------------------------------------------
    def call(self, hook: str, **kwargs: Any) -> list[tuple[str | None, Any]]:
        """Call ``hook`` through pluggy; every answer with the plugin that gave it.

        pluggy returns bare answers (after any hook wrapper had its say); the isolated
        implementations note who answered what, and answers are matched by identity.
        An answer a hook wrapper put in its own name has no plugin (None).
        """
        answered: list[tuple[str, Any]] = []
        self._collecting.append((hook, answered))
        try:
            results = getattr(self.registry.pm.hook, hook)(**kwargs)
        finally:
            self._collecting.pop()
        if not isinstance(results, list):  # a firstresult hook: one answer or None
            results = [] if results is None else [results]
        attributed: list[tuple[str | None, Any]] = []
        for result in results:
            owner = getattr(result, "plugin", None) if isinstance(result, PluginCall) else None
            for index, (name, value) in enumerate(answered):
                if value is result:
                    owner = name
                    del answered[index]
                    break
            attributed.append((owner, result))
        return attributed

    async def call_awaited(self, hook: str, **kwargs: Any) -> list[tuple[str | None, Any]]:
        """``call``, then each awaitable answer awaited in order (failures give None)."""
        settled = []
        for owner, result in self.call(hook, **kwargs):
            value = await result if inspect.isawaitable(result) else result
            if value is not None:
                settled.append((owner, value))
        return settled

    async def first_answer(self, hook: str, **kwargs: Any) -> tuple[str | None, Any]:
        """The provider policy, written once: implementations are asked in pluggy's
        order and the first answer that is not None wins; the awaitables after it are
        closed without being run. ``(None, None)`` when nobody answers."""
        pending = self.call(hook, **kwargs)
        winner: tuple[str | None, Any] = (None, None)
        while pending:
            owner, result = pending.pop(0)
            value = await result if inspect.isawaitable(result) else result
            if value is not None:
                winner = (owner, value)
                break
        for _owner, left in pending:
            if isinstance(left, PluginCall):
                left.close()
        return winner

    def isolated(self, record: PluginRecord, plugin: object) -> object:
        """What is registered with pluggy for ``plugin``: an object holding its hook
        implementations, each (but hook wrappers) wrapped to isolate its failures.

        The wrappers keep the originals' signatures and hookimpl markers, so pluggy
        sees the same implementations, options (tryfirst, trylast, specname) included.
        """
        hooks: dict[str, Any] = {}
        for name in dir(plugin):
            options = self.registry.pm.parse_hookimpl_opts(plugin, name)
            if options is None:
                continue
            implementation = getattr(plugin, name)
            if options.get("wrapper") or options.get("hookwrapper"):
                hooks[name] = implementation
            else:
                hooks[name] = self._isolated(record, options.get("specname") or name, implementation)
        return types.SimpleNamespace(**hooks)

    def _isolated(self, record: PluginRecord, hook: str, original: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        def call(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter() if self.trace else 0.0
            try:
                result = original(*args, **kwargs)
            except ApiError:
                if hook in BUILD_HOOKS or hook in LIFECYCLE_HOOKS:
                    return self.failed(record, hook, RuntimeError("raised an ApiError"))
                raise
            except Exception as exc:  # noqa: BLE001 - isolation: attributed to this plugin
                return self.failed(record, hook, exc)
            if type(result) not in PLAIN_ANSWERS and inspect.isawaitable(result):
                return PluginCall(self, record, hook, result)
            self.traced(record, hook, started, result)
            if result is not None:
                self._note_answer(hook, record.name, result)
            return result

        return call

    def _note_answer(self, hook: str, plugin: str, result: Any) -> None:
        for collecting, answered in reversed(self._collecting):
            if collecting == hook:
                answered.append((plugin, result))
                return

    def failed(self, record: PluginRecord, hook: str, exc: BaseException) -> None:
        """Handle one implementation's failure as its hook's policy says; None is its answer."""
        phase = PHASES.get(hook, hook)
        if hook in BUILD_HOOKS or hook == "devstack_startup":
            self.registry.fail(record, phase, exc)
            return
        log.error(
            "plugin hook failed",
            exc_info=(type(exc), exc, exc.__traceback__),
            extra={"plugin": record.name, "hook": hook, "phase": phase, "error_type": type(exc).__name__},
        )

    def traced(self, record: PluginRecord, hook: str, started: float, result: Any) -> None:
        if self.trace:
            log.info(
                "hook call",
                extra={
                    "hook": hook,
                    "plugin": record.name,
                    "answered": result is not None,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                },
            )
