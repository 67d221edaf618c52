"""The plugin's settings: environment variables prefixed ``VAULT_``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BeforeValidator, Field, SecretStr
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from devstack.api import comma_separated

MOUNT_PATTERN = r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$"
NAME_PATTERN = r"^[A-Za-z0-9_-]+$"
HOST_PATTERN = r"^[A-Za-z0-9*]([A-Za-z0-9.*-]{0,252})$"
IP_PATTERN = r"^[0-9A-Fa-f:.]{2,45}$"


HostList = Annotated[list[Annotated[str, Field(pattern=HOST_PATTERN)]], NoDecode, BeforeValidator(comma_separated)]
IpList = Annotated[list[Annotated[str, Field(pattern=IP_PATTERN)]], NoDecode, BeforeValidator(comma_separated)]
NameList = Annotated[list[Annotated[str, Field(pattern=NAME_PATTERN)]], NoDecode, BeforeValidator(comma_separated)]


class VaultSettings(BaseSettings):
    """Vault (or OpenBao) connection, authentication and engine settings (env prefix ``VAULT_``)."""

    model_config = SettingsConfigDict(env_prefix="VAULT_", extra="ignore")

    addr: str = Field("http://127.0.0.1:8200", pattern=r"^https?://[^\s/]+/?$", description="Vault server address")
    token: SecretStr | None = Field(None, description="Token; used when AppRole is not configured or refused")
    approle_dir: Path | None = Field(None, description="Directory holding the AppRole files role-id and secret-id")
    role_id: str | None = Field(None, description="AppRole role_id (takes precedence over VAULT_APPROLE_DIR)")
    secret_id: SecretStr | None = Field(None, description="AppRole secret_id (with VAULT_ROLE_ID)")
    approle_mount: str = Field("approle", pattern=MOUNT_PATTERN, description="Mount path of the AppRole auth method")
    ca_cert: Path | None = Field(None, description="CA bundle verifying an https Vault address")
    timeout: float = Field(5.0, gt=0, le=60, description="Seconds a Vault call may take")
    renew_threshold: float = Field(
        0.5, gt=0, lt=1, description="Renew the token once less than this fraction of its TTL remains"
    )

    kv_mount: str = Field("secret", pattern=MOUNT_PATTERN, description="Mount path of the KV v2 engine")
    secrets_ttl: float = Field(300.0, gt=0, description="Seconds a secret served to other plugins stays fresh")
    response_cache_ttl: float = Field(
        300.0, ge=0, description="Seconds secret reads are cached in the shared cache (0: not cached)"
    )
    protected_secrets: NameList = Field(
        default_factory=list,
        description="More secrets the write endpoint refuses, besides those devstack reads (host.protected_secrets)",
    )

    transit_mount: str = Field("transit", pattern=MOUNT_PATTERN, description="Mount path of the transit engine")
    transit_key: str = Field("devstack", pattern=NAME_PATTERN, description="Transit key used by encrypt/decrypt")

    pki_enabled: bool = Field(True, description="Issue the HTTPS listener's certificate from the PKI engine")
    pki_mount: str = Field("pki", pattern=MOUNT_PATTERN, description="Mount path of the PKI engine")
    pki_role: str = Field("devstack", pattern=NAME_PATTERN, description="PKI role certificates are issued under")
    tls_common_name: str = Field("localhost", pattern=HOST_PATTERN, description="Certificate common name")
    tls_alt_names: HostList = Field(default_factory=list, description="Extra DNS subject alternative names")
    tls_ip_sans: IpList = Field(default_factory=lambda: ["127.0.0.1"], description="IP subject alternative names")
    tls_ttl: str = Field("72h", pattern=r"^[0-9]{1,9}[smhd]?$", description="Requested certificate lifetime")

    @property
    def approle_configured(self) -> bool:
        """Whether AppRole credentials are configured (settings or files)."""
        return bool(self.role_id and self.secret_id) or self.approle_dir is not None
