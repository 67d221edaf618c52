"""The plugin's settings: environment variables prefixed ``MONGODB_``."""

from __future__ import annotations

from typing import Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class MongoSettings(BaseSettings):
    """Where the MongoDB server is and how the plugin uses it.

    User, password and database are the fallback credentials: the secrets provider's
    answer for ``secret/mongodb`` (Vault) wins when there is one.
    """

    model_config = SettingsConfigDict(env_prefix="MONGODB_", extra="ignore")

    host: str = Field("127.0.0.1", min_length=1, description="MongoDB server host")
    port: int = Field(27017, ge=1, le=65535, description="MongoDB server port")
    user: str = Field("appuser", description="User (when no secrets provider answers)")
    password: SecretStr = Field(
        SecretStr(""), description="Password (when no secrets provider answers); empty: no authentication"
    )
    database: str = Field(
        "appdb", min_length=1, max_length=63, pattern=r"^[A-Za-z0-9_-]+$", description="Database of the examples"
    )
    auth_source: str = Field("", description="Database the user is defined in (empty: the database above)")
    collection: str = Field(
        "devstack_records",
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z][A-Za-z0-9_]*$",
        description="Collection of the stored records (created at startup when missing)",
    )
    min_pool_size: int = Field(5, ge=0, le=1000, description="Connections the pool keeps open")
    max_pool_size: int = Field(20, ge=1, le=1000, description="Most connections the pool opens")
    timeout: float = Field(5.0, gt=0, le=300, description="Timeout of every backend call, seconds")
    server_selection_timeout: float = Field(
        2.0, gt=0, le=60, description="How long a call waits for a reachable server, seconds"
    )
    connect_timeout: float = Field(2.0, gt=0, le=60, description="Timeout of opening one connection, seconds")
    secrets_service: str = Field(
        "mongodb", pattern=r"^[a-zA-Z0-9_-]{1,50}$", description="Name asked from the secrets provider"
    )

    @model_validator(mode="after")
    def pool_bounds(self) -> Self:
        if self.min_pool_size > self.max_pool_size:
            raise ValueError("min_pool_size must not exceed max_pool_size")
        return self
