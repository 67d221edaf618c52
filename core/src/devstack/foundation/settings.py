"""Core's settings: environment variables prefixed ``DEVSTACK_``."""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
from pathlib import Path
from typing import Annotated, Literal

from limits import parse as parse_rate_limit
from pydantic import AfterValidator, BeforeValidator, Field, SecretStr
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from devstack.foundation.storage_uri import check_storage_uri

# CORS defaults (devstack.http.cors applies them): the reference's origins, methods and headers
DEFAULT_ORIGINS = (
    "http://localhost:3000",
    "http://localhost:8000",
    "http://localhost:8001",
    "http://localhost:8080",
    "http://127.0.0.1:3000",
)
DEFAULT_METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")
DEFAULT_HEADERS = (
    "Accept",
    "Accept-Language",
    "Authorization",
    "Cache-Control",
    "Content-Language",
    "Content-Type",
    "DNT",
    "Origin",
    "User-Agent",
    "X-API-Key",
    "X-Request-ID",
    "X-Requested-With",
)
DEFAULT_EXPOSED_HEADERS = ("X-Request-ID", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


def split_csv(value: object) -> object:
    """List settings have one format in the environment: comma-separated, ``a,b,c``
    (spaces around items ignored; empty: none). A JSON list (``["a","b"]``) is refused,
    not read as the odd names ``["a"`` and ``"b"]``."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("[") and text.endswith("]"):
            try:
                is_json = isinstance(json.loads(text), list)
            except ValueError:
                is_json = False  # e.g. [::1], an IPv6 address
            if is_json:
                raise ValueError("a list setting is comma-separated (a,b,c), not a JSON list")
        return [item.strip() for item in text.split(",") if item.strip()]
    return value


def rate_limit(value: str) -> str:
    parse_rate_limit(value)  # ValueError: "couldn't parse rate limit string ..."
    return value


CsvList = Annotated[list[str], NoDecode, BeforeValidator(split_csv)]
CsvSecrets = Annotated[list[SecretStr], NoDecode, BeforeValidator(split_csv)]
RateLimit = Annotated[str, AfterValidator(rate_limit)]

INSTANCE_ID_PATTERN = r"^[A-Za-z0-9_.-]{0,64}$"


def new_instance_id() -> str:
    """A fresh instance identity: host name, process id and a random part.

    ``devstack serve`` makes one and hands it to its workers, so that the workers of one
    instance share what is cached per instance and other instances never see it.
    """
    host = re.sub(r"[^A-Za-z0-9_.-]", "-", socket.gethostname())[:40] or "host"
    return f"{host}-{os.getpid()}-{secrets.token_hex(4)}"


class CoreSettings(BaseSettings):
    """Settings of the host itself (env prefix ``DEVSTACK_``)."""

    model_config = SettingsConfigDict(env_prefix="DEVSTACK_", extra="ignore")

    host: str = Field("127.0.0.1", description="Address the HTTP (and HTTPS) listeners bind")
    port: int = Field(8001, ge=1, le=65535, description="HTTP port")
    https_port: int = Field(8444, ge=1, le=65535, description="HTTPS port (when TLS is enabled)")
    workers: int = Field(1, ge=1, le=64, description="Worker processes for `devstack serve`")
    server: Literal["hypercorn", "granian"] = Field(
        "hypercorn", description="HTTP server of `devstack serve`: hypercorn or granian (needs devstack-core[granian])"
    )
    log_level: str = Field("INFO", description="Log level: DEBUG, INFO, WARNING, ERROR")
    instance_id: str = Field(
        "",
        pattern=INSTANCE_ID_PATTERN,
        description="This instance's name in shared-cache keys, e.g. the pod name (empty: generated at start)",
    )

    strict_plugins: bool = Field(False, description="Fail startup when any plugin fails to load or start")
    plugins: CsvList = Field(default_factory=list, description="Allowlist of plugin names (empty: all)")
    disable_plugins: CsvList = Field(default_factory=list, description="Plugin names not to load")
    plugin_lifecycle_timeout: float = Field(
        30.0, gt=0, description="Seconds each plugin's startup or shutdown hook may take (then it is failed)"
    )
    trace_plugins: bool = Field(False, description="Log every hook call: hook, plugin that answered, duration")

    health_cache_ttl: float = Field(30.0, ge=0, description="Seconds GET /health/all is cached")
    health_timeout: float = Field(5.0, gt=0, description="Default timeout of a health probe, seconds")
    backend_timeout: float = Field(5.0, gt=0, description="Default timeout of a backend call, seconds")

    breaker_failure_threshold: int = Field(5, ge=1, description="Consecutive failures that open a breaker")
    breaker_reset_timeout: float = Field(60.0, gt=0, description="Seconds before an open breaker tries again")

    max_body_bytes: int = Field(10 * 1024 * 1024, ge=1, description="Largest request body accepted")
    max_body_depth: int = Field(
        64, ge=1, le=1000, description="Deepest nesting of arrays and objects accepted in a JSON request body"
    )

    cors_origins: CsvList = Field(
        default_factory=lambda: list(DEFAULT_ORIGINS), description="Origins allowed by CORS (* for any)"
    )
    cors_methods: CsvList = Field(
        default_factory=lambda: list(DEFAULT_METHODS), description="Methods a CORS preflight may ask for"
    )
    cors_headers: CsvList = Field(
        default_factory=lambda: list(DEFAULT_HEADERS),
        description="Request headers a CORS preflight may ask for (* for any; the CORS-safelisted ones always)",
    )
    cors_expose_headers: CsvList = Field(
        default_factory=lambda: list(DEFAULT_EXPOSED_HEADERS),
        description="Response headers scripts of an allowed origin may read",
    )

    rate_limit_enabled: bool = Field(True, description="Enforce per-client rate limits")
    rate_limit_general: RateLimit = Field("100/minute", description="Limit for ordinary endpoints")
    rate_limit_health: RateLimit = Field("200/minute", description="Limit for /health endpoints")
    rate_limit_metrics: RateLimit = Field("1000/minute", description="Limit for /metrics")
    rate_limit_storage: Annotated[str, AfterValidator(check_storage_uri)] = Field(
        "memory://",
        description="limits storage URI, e.g. redis://127.0.0.1:6379/1 (needs devstack-core[redis])",
    )
    rate_limit_strategy: Literal["fixed-window", "moving-window"] = Field(
        "fixed-window", description="limits strategy: fixed-window (cheapest) or moving-window"
    )
    rate_limit_key_prefix: str = Field("devstack-ratelimit", description="Prefix of the rate-limit keys in the storage")
    rate_limit_storage_timeout: float = Field(
        0.25, gt=0, description="Seconds a shared rate-limit storage call may take before the request is let through"
    )
    rate_limit_exempt: CsvList = Field(
        default_factory=lambda: ["/health/live", "/health/ready"],
        description="Paths never rate limited (the probes of load balancers and orchestrators)",
    )
    trusted_proxies: CsvList = Field(
        default_factory=list, description="Proxy addresses whose X-Forwarded-For and X-Forwarded-Host are used"
    )
    allowed_hosts: CsvList = Field(
        default_factory=lambda: ["localhost", "127.0.0.1", "::1"],
        description="Host header names served (any port; .example.com: it and its subdomains; "
        "ip: any IP address; * any); "
        "the bound address DEVSTACK_HOST is served too",
    )

    api_keys: CsvSecrets = Field(default_factory=list, description="Accepted X-API-Key values (empty: off)")
    api_keys_secret: str = Field("", description="Secrets service holding API keys (e.g. devstack-api)")
    api_keys_refresh: float = Field(300.0, gt=0, description="Seconds between re-reads of the API keys secret")
    api_key_exempt: CsvList = Field(
        default_factory=lambda: ["/health/live", "/health/ready", "/metrics"],
        description="Paths that need no API key",
    )

    tls_enabled: bool = Field(False, description="Also serve HTTPS on https_port")
    tls_cert_file: Path | None = Field(None, description="PEM certificate chain (when no plugin issues one)")
    tls_key_file: Path | None = Field(None, description="PEM private key (when no plugin issues one)")
    tls_renew_before: float = Field(
        86400.0, gt=0, description="Renew a plugin-issued certificate this many seconds before it expires"
    )
    tls_check_interval: float = Field(60.0, gt=0, description="Seconds between checks of the certificate for renewal")

    shutdown_grace: float = Field(10.0, gt=0, description="Seconds in-flight requests get on SIGTERM")
    shutdown_delay: float = Field(
        0.0,
        ge=0,
        le=300,
        description="Seconds after SIGTERM during which /health/ready answers 503 and requests are still served, "
        "before the drain: a load balancer's health check notices and stops routing first",
    )
