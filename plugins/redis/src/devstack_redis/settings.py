"""The plugin's settings: environment variables prefixed ``REDIS_``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import unquote, urlsplit, urlunsplit

from pydantic import AliasChoices, BeforeValidator, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

NODE_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,50}$")
KEY_PREFIX = re.compile(r"^[a-zA-Z0-9_:.-]{0,64}$")


@dataclass(frozen=True)
class NodeAddress:
    """One named node of the cluster: ``redis-1=127.0.0.1:7001``."""

    name: str
    host: str
    port: int

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def __str__(self) -> str:
        return f"{self.name}={self.address}"


def parse_node(text: str, position: int) -> NodeAddress:
    """``name=host:port`` (or ``host:port``, then named ``redis-<position>``)."""
    name, sep, address = text.partition("=")
    if not sep:
        name, address = f"redis-{position}", text
    name, address = name.strip(), address.strip()
    if not NODE_NAME.match(name):
        raise ValueError(f"node name {name!r} must be 1-50 characters of letters, digits, '_' and '-'")
    host, colon, port_text = address.rpartition(":")
    if not colon or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"node {name!r} needs an address host:port")
    return NodeAddress(name=name, host=host.strip("[]"), port=int(port_text))


def parse_nodes(value: Any) -> Any:
    """``REDIS_NODES`` as written in the environment: a comma separated list."""
    if isinstance(value, str):
        items = [item.strip() for item in value.split(",") if item.strip()]
        nodes = [parse_node(item, index) for index, item in enumerate(items, start=1)]
        names = [node.name for node in nodes]
        if len(set(names)) != len(names):
            raise ValueError("node names in REDIS_NODES must be unique")
        return nodes
    return value


NodeList = Annotated[list[NodeAddress], NoDecode, BeforeValidator(parse_nodes)]


class RedisSettings(BaseSettings):
    """Where Redis is and how the plugin uses it (env prefix ``REDIS_``)."""

    model_config = SettingsConfigDict(env_prefix="REDIS_", extra="ignore")

    url: str = Field(
        "redis://127.0.0.1:6379/0",
        description="Standalone Redis (used when REDIS_NODES is empty)",
    )
    nodes: NodeList = Field(
        default_factory=list,
        description="Redis Cluster nodes, name=host:port,... (set: the cluster serves the cache)",
    )
    password: SecretStr | None = Field(
        None, description="Password of the standalone Redis (a password in REDIS_URL is moved here)"
    )
    cluster_password: SecretStr | None = Field(None, description="Cluster password when the secrets provider has none")
    secrets_service: str = Field(
        "",
        description="Secrets entry holding the cluster password (empty: the first node's name)",
        # REDIS_SECRET_SERVICE is the name of earlier releases; it still works
        validation_alias=AliasChoices("REDIS_SECRETS_SERVICE", "REDIS_SECRET_SERVICE", "secrets_service"),
    )
    key_prefix: str = Field("devstack:", description="Prefix of the shared cache's keys")
    examples_prefix: str = Field("cache:", description="Prefix of the /examples/cache keys")
    max_connections: int = Field(64, ge=1, le=10_000, description="Connections per Redis node")
    connect_timeout: float = Field(2.0, gt=0, description="Seconds to open a connection")
    socket_timeout: float = Field(3.0, gt=0, description="Seconds to wait for one reply")
    cluster_retries: int = Field(2, ge=0, le=10, description="Cluster client retries after a topology error")
    cache_timeout: float = Field(1.0, gt=0, description="Seconds a shared-cache call may take before it is bypassed")
    scan_count: int = Field(1000, ge=10, le=100_000, description="COUNT hint of each SCAN call")
    search_budget: float = Field(2.0, gt=0, le=60, description="Seconds a pattern search may scan before truncating")
    health_timeout: float = Field(3.0, gt=0, description="Seconds the health probe gives each node")
    startup_wait: float = Field(3.0, ge=0, description="Seconds startup waits for credentials and clients")

    @field_validator("key_prefix", "examples_prefix")
    @classmethod
    def plain_prefix(cls, value: str) -> str:
        if not KEY_PREFIX.match(value):
            raise ValueError("a key prefix is at most 64 characters of letters, digits and _ : . -")
        return value

    @model_validator(mode="after")
    def password_out_of_url(self) -> RedisSettings:
        """Keep a password written in REDIS_URL as a secret (masked wherever settings are shown)."""
        parts = urlsplit(self.url)
        if parts.password is None:
            return self
        if self.password is None:
            self.password = SecretStr(unquote(parts.password))
        host = parts.hostname or ""
        netloc = f"[{host}]" if ":" in host else host
        if parts.port is not None:
            netloc += f":{parts.port}"
        if parts.username:
            netloc = f"{parts.username}@{netloc}"
        self.url = urlunsplit(parts._replace(netloc=netloc))
        return self

    @field_validator("secrets_service")
    @classmethod
    def service_name(cls, value: str) -> str:
        if value and not NODE_NAME.match(value):
            raise ValueError("secrets_service must be 1-50 characters of letters, digits, '_' and '-'")
        return value

    @property
    def cluster_mode(self) -> bool:
        return bool(self.nodes)

    def standalone_address(self) -> tuple[str, int]:
        """Host and port of ``REDIS_URL`` (defaults 127.0.0.1 and 6379)."""
        parts = urlsplit(self.url)
        try:
            port = parts.port or 6379
        except ValueError:
            port = 6379
        return parts.hostname or "127.0.0.1", port

    def node(self, name: str) -> NodeAddress | None:
        return next((node for node in self.nodes if node.name == name), None)

    def cluster_secrets_service(self) -> str | None:
        if self.secrets_service:
            return self.secrets_service
        return self.nodes[0].name if self.nodes else None
