"""The plugin's background tasks: first login, token renewal, secrets refresh."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from devstack.api import ApiError, Host
from devstack_vault.service import VaultService, service_of

log = logging.getLogger("devstack_vault")

IDLE_POLL = 5.0
MAX_BACKOFF = 30.0


async def keep_token(service: VaultService) -> None:
    """Log in, then renew the token whenever less than the threshold of its TTL remains.

    Failures (Vault down) are retried with backoff; a token Vault no longer accepts is
    replaced by an AppRole login when AppRole is configured.
    """
    backoff = 1.0
    while not service.auth.authenticated:
        try:
            await service.login()
        except ApiError:
            log.warning("vault login failed; retrying", extra={"retry_in_s": backoff})
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)
    backoff = 1.0
    while True:
        due_in = service.auth.renew_due_in()
        if due_in is None or due_in > 0:
            await asyncio.sleep(IDLE_POLL if due_in is None else min(due_in, IDLE_POLL))
            continue
        try:
            result = await service.renew_token()
        except ApiError:
            service.metrics.renewals.labels("failure").inc()
            log.warning("vault token renewal failed; retrying", extra={"retry_in_s": backoff})
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)
            continue
        backoff = 1.0
        if result != "skipped":
            service.metrics.renewals.labels(result).inc()
            log.info("vault token renewed", extra={"result": result})


async def refresh_secrets(service: VaultService) -> None:
    """Refresh cached secrets before their TTL runs out."""
    interval = min(max(service.settings.secrets_ttl / 5, 0.2), 30.0)
    while True:
        await asyncio.sleep(interval)
        await service.secrets.refresh_due()


class Background:
    """The running tasks of one application."""

    def __init__(self, service: VaultService) -> None:
        self.service = service
        self.tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.tasks = [
            loop.create_task(keep_token(self.service), name="vault-token"),
            loop.create_task(refresh_secrets(self.service), name="vault-secrets-refresh"),
        ]

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.tasks = []


def background_of(host: Host) -> Background:
    """The application's background tasks (created by the first hook that needs them)."""
    return host.state(Background, lambda: Background(service_of(host)))
