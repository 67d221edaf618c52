"""The plugin's settings: environment variables prefixed ``MYSQL_``."""

from __future__ import annotations

from typing import Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class MysqlSettings(BaseSettings):
    """Where MySQL (or MariaDB) is and how the pool behaves.

    ``user``, ``password`` and ``database`` are used only when the secrets provider
    (Vault ``secret/mysql``) has nothing for ``mysql``.
    """

    model_config = SettingsConfigDict(env_prefix="MYSQL_", extra="ignore")

    host: str = Field("127.0.0.1", description="MySQL server address")
    port: int = Field(3306, ge=1, le=65535, description="MySQL server port")
    user: str = Field("appuser", description="User when Vault has no secret/mysql")
    password: SecretStr = Field(SecretStr(""), description="Password when Vault has no secret/mysql")
    database: str = Field("appdb", description="Database when Vault has no secret/mysql")
    pool_min_size: int = Field(5, ge=0, le=100, description="Connections the pool keeps open")
    pool_max_size: int = Field(20, ge=1, le=100, description="Most connections the pool opens")
    timeout: float = Field(5.0, gt=0, le=300, description="Seconds a query, connect or health probe may take")
    retry_max_wait: float = Field(10.0, gt=0, description="Longest pause between attempts to open the pool")
    count_cache_seconds: float = Field(
        1.0,
        ge=0,
        le=60,
        description="Seconds the total of GET /examples/database/mysql is reused (0: count every time)",
    )
    pool_recycle: int = Field(3600, ge=-1, description="Seconds before an idle connection is replaced (-1: never)")

    @model_validator(mode="after")
    def check_pool_bounds(self) -> Self:
        if self.pool_min_size > self.pool_max_size:
            raise ValueError("pool_min_size must not exceed pool_max_size")
        return self
