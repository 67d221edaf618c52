"""The plugin's settings: environment variables prefixed ``MYSQL_``."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from devstack.api import DatastoreSettings


class MysqlSettings(DatastoreSettings):
    """Where MySQL (or MariaDB) is and how the pool behaves."""

    model_config = SettingsConfigDict(env_prefix="MYSQL_")

    port: int = Field(3306, ge=1, le=65535, description="Server port")
    pool_recycle: int = Field(3600, ge=-1, description="Seconds before an idle connection is replaced (-1: never)")
