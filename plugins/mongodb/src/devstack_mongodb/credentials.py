"""Which user, password and database the client uses: the secrets provider's, else the settings'."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from devstack.api import Host
from devstack_mongodb.settings import MongoSettings

CredentialSource = Literal["secrets", "settings"]


@dataclass(frozen=True)
class Credentials:
    user: str
    password: str = field(repr=False)
    database: str
    source: CredentialSource

    @property
    def authenticates(self) -> bool:
        """Authentication is used only when both a user and a password are known."""
        return bool(self.user and self.password)


def from_settings(settings: MongoSettings) -> Credentials:
    return Credentials(
        user=settings.user,
        password=settings.password.get_secret_value(),
        database=settings.database,
        source="settings",
    )


async def resolve(host: Host, settings: MongoSettings) -> Credentials:
    """Ask core's secrets hook (``secret/mongodb`` in Vault); fall back to the settings.

    A key the provider does not hold keeps the settings' value. Raises
    ``ServiceUnavailable`` when the provider is down and has nothing cached.
    """
    fallback = from_settings(settings)
    answer = await host.secrets(settings.secrets_service)
    if answer is None:
        return fallback
    return Credentials(
        user=answer.get("user") or fallback.user,
        password=answer.get("password") or fallback.password,
        database=answer.get("database") or fallback.database,
        source="secrets",
    )
