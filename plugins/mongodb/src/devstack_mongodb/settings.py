"""The plugin's settings: environment variables prefixed ``MONGODB_``."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from devstack.api import DatastoreSettings


class MongoSettings(DatastoreSettings):
    """Where the MongoDB server is and how the plugin uses it. ``MONGODB_MIN_POOL_SIZE``
    and ``MONGODB_MAX_POOL_SIZE`` still name the pool's bounds."""

    model_config = SettingsConfigDict(env_prefix="MONGODB_")
    legacy_env = {"pool_min_size": "min_pool_size", "pool_max_size": "max_pool_size"}

    port: int = Field(27017, ge=1, le=65535, description="Server port")
    password: SecretStr = Field(
        SecretStr(""), description="Password when the secrets provider has none (empty: no authentication)"
    )
    database: str = Field(
        "appdb", min_length=1, max_length=63, pattern=r"^[A-Za-z0-9_-]+$", description="Database of the examples"
    )
    pool_min_size: int = Field(5, ge=0, le=1000, description="Connections the pool keeps open")
    pool_max_size: int = Field(20, ge=1, le=1000, description="Most connections the pool opens")
    # the collection is ensured at every attempt: retried sooner than a pool
    retry_max_wait: float = Field(5.0, gt=0, description="Longest pause between attempts to open the client")
    # estimatedDocumentCount reads the collection's metadata: cheap enough to ask every time
    count_cache_seconds: float = Field(
        0.0, ge=0, le=60, description="Seconds the total of the records list is reused (0: count every time)"
    )
    auth_source: str = Field("", description="Database the user is defined in (empty: the database above)")
    collection: str = Field(
        "devstack_records",
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z][A-Za-z0-9_]*$",
        description="Collection of the stored records (created at startup when missing)",
    )
    server_selection_timeout: float = Field(
        2.0, gt=0, le=60, description="How long a call waits for a reachable server, seconds"
    )
    connect_timeout: float = Field(2.0, gt=0, le=60, description="Timeout of opening one connection, seconds")
