"""The settings every database plugin has: where the server is, whom to log in as, the pool.

A plugin subclasses :class:`DatastoreSettings` with its own ``env_prefix`` and the port of
its server; its own settings are added as fields. A setting renamed to the shared scheme
keeps its old environment name working: list it in ``legacy_env``
(``{"database": "db"}`` reads ``POSTGRES_DATABASE``, else ``POSTGRES_DB``).
"""

from __future__ import annotations

from typing import Any, ClassVar, Self

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class DatastoreSettings(BaseSettings):
    """Where the database is, the fallback credentials and how the pool behaves.

    ``user``, ``password`` and ``database`` are used only where the secrets provider (Vault
    ``secret/<secrets_service>``) has no value for them.
    """

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    legacy_env: ClassVar[dict[str, str]] = {}
    """Old names of renamed fields (without the prefix), still read from the environment."""

    host: str = Field("127.0.0.1", min_length=1, description="Server address")
    port: int = Field(ge=1, le=65535, description="Server port")  # each plugin gives its default
    user: str = Field("appuser", description="User when the secrets provider has none")
    password: SecretStr = Field(SecretStr(""), description="Password when the secrets provider has none")
    database: str = Field("appdb", min_length=1, description="Database when the secrets provider has none")
    pool_min_size: int = Field(5, ge=0, le=100, description="Connections the pool keeps open")
    pool_max_size: int = Field(20, ge=1, le=100, description="Most connections the pool opens")
    timeout: float = Field(5.0, gt=0, le=300, description="Seconds a query, connect or health probe may take")
    retry_max_wait: float = Field(10.0, gt=0, description="Longest pause between attempts to open the pool")
    count_cache_seconds: float = Field(
        1.0, ge=0, le=60, description="Seconds the total of the records list is reused (0: count every time)"
    )
    secrets_service: str = Field(
        "", pattern=r"^[a-zA-Z0-9_-]{0,50}$", description="Name asked from the secrets provider (empty: the plugin's)"
    )

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        prefix = str(cls.model_config.get("env_prefix", ""))
        renamed = False
        for name, old in cls.legacy_env.items():
            field = cls.model_fields[name]
            if field.validation_alias is None:
                # the first choice is the current name: settings tables and errors show it
                field.validation_alias = AliasChoices(f"{prefix}{name}".upper(), f"{prefix}{old}".upper())
                renamed = True
        if renamed:
            cls.model_rebuild(force=True)

    @model_validator(mode="after")
    def check_pool_bounds(self) -> Self:
        if self.pool_min_size > self.pool_max_size:
            raise ValueError("pool_min_size must not exceed pool_max_size")
        return self
