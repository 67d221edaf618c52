"""RabbitMQ settings: environment variables prefixed ``RABBITMQ_``."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class RabbitMQSettings(BaseSettings):
    """Where the broker is and how to talk to it.

    User, password and vhost are fallbacks: the secrets provider's ``secret/rabbitmq``
    (keys ``user``, ``password``, ``vhost``) wins when one is installed and answers.
    """

    model_config = SettingsConfigDict(env_prefix="RABBITMQ_", extra="ignore")

    host: str = Field("127.0.0.1", description="AMQP host")
    port: int = Field(5672, ge=1, le=65535, description="AMQP port")
    user: str = Field("guest", description="AMQP user (when the secrets provider has none)")
    password: SecretStr = Field(SecretStr("guest"), description="AMQP password (when the secrets provider has none)")
    vhost: str = Field("/", description="Virtual host (when the secrets provider has none)")
    secrets_service: str = Field("rabbitmq", description="Name asked of the secrets provider (secret/<name>)")
    connection_name: str = Field("devstack", description="Client-provided connection name shown by the broker")
    connect_timeout: float = Field(5.0, gt=0, description="Seconds one connection attempt may take")
    reconnect_interval: float = Field(2.0, gt=0, description="Seconds between reconnection attempts")
    reconnect_wait: float = Field(
        2.0, gt=0, description="Seconds a request waits for a connection being re-established (then 503)"
    )
    channel_pool_size: int = Field(8, ge=1, le=256, description="Publisher-confirm channels in the pool")
    declared_cache_size: int = Field(10000, ge=1, description="Queue names remembered as already declared")
    consume_poll_ms: int = Field(50, ge=5, le=1000, description="Poll interval while consume waits for a message")
    consume_max_bytes: int = Field(
        4 * 1024 * 1024,
        ge=1,
        description="Body bytes one consume takes before it stops (it always takes a first message)",
    )
    management_url: str = Field("http://127.0.0.1:15672", description="Base URL of the management HTTP API")
    management_user: str | None = Field(None, description="Management API user (default: the AMQP user)")
    management_password: SecretStr | None = Field(
        None, description="Management API password (default: the AMQP password)"
    )
    management_timeout: float = Field(5.0, gt=0, description="Seconds a management API call may take")
