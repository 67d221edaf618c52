"""The plugin's settings: environment variables prefixed ``POSTGRES_``."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from devstack.api import DatastoreSettings


class PostgresSettings(DatastoreSettings):
    """Where PostgreSQL is and how the pool behaves (``POSTGRES_DB`` still names the database)."""

    model_config = SettingsConfigDict(env_prefix="POSTGRES_")
    legacy_env = {"database": "db"}

    port: int = Field(5432, ge=1, le=65535, description="Server port")
    application_name: str = Field("devstack", max_length=63, description="application_name of the connections")
