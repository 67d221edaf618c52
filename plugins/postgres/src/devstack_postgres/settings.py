"""The plugin's settings: environment variables prefixed ``POSTGRES_``."""

from __future__ import annotations

from typing import Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class PostgresSettings(BaseSettings):
    """Where PostgreSQL is and how the pool behaves.

    ``user``, ``password`` and ``db`` are used only when the secrets provider (Vault
    ``secret/postgres``) has nothing for ``postgres``.
    """

    model_config = SettingsConfigDict(env_prefix="POSTGRES_", extra="ignore")

    host: str = Field("127.0.0.1", description="PostgreSQL server address")
    port: int = Field(5432, ge=1, le=65535, description="PostgreSQL server port")
    user: str = Field("appuser", description="Login role when Vault has no secret/postgres")
    password: SecretStr = Field(SecretStr(""), description="Password when Vault has no secret/postgres")
    db: str = Field("appdb", description="Database when Vault has no secret/postgres")
    pool_min_size: int = Field(5, ge=0, le=100, description="Connections the pool keeps open")
    pool_max_size: int = Field(20, ge=1, le=100, description="Most connections the pool opens")
    timeout: float = Field(5.0, gt=0, le=300, description="Seconds a query, connect or health probe may take")
    retry_max_wait: float = Field(10.0, gt=0, description="Longest pause between attempts to open the pool")
    count_cache_seconds: float = Field(
        1.0,
        ge=0,
        le=60,
        description="Seconds the total of GET /examples/database/postgres is reused (0: count every time)",
    )
    application_name: str = Field("devstack", max_length=63, description="application_name of the connections")

    @model_validator(mode="after")
    def check_pool_bounds(self) -> Self:
        if self.pool_min_size > self.pool_max_size:
            raise ValueError("pool_min_size must not exceed pool_max_size")
        return self
