"""What `up` puts into Vault, every time, idempotently: KV v2 at secret/ with each
backend's credentials, the transit key, the PKI root and role, the AppRole ``devstack``
with its policy; then a check that the AppRole works the way the app uses it."""

from __future__ import annotations

from typing import Any

from devstack_services.common import Failure, read_text, warn
from devstack_services.procs import wait_until
from devstack_services.settings import APP_DB, APP_USER, RMQ_USER, RMQ_VHOST, Config
from devstack_services.vault_api import Vault, as_json, mount_type

POLICY = """# devstack application policy (managed by scripts/services.sh)
path "secret/data/*" {
  capabilities = ["create", "read", "update", "list"]
}
path "secret/metadata/*" {
  capabilities = ["read", "list"]
}
path "transit/encrypt/devstack" {
  capabilities = ["update"]
}
path "transit/decrypt/devstack" {
  capabilities = ["update"]
}
path "pki/issue/devstack" {
  capabilities = ["update"]
}
path "sys/health" {
  capabilities = ["read"]
}
"""

PKI_ROLE = {
    "allowed_domains": ["localhost"],
    "allow_localhost": True,
    "allow_bare_domains": True,
    "allow_subdomains": True,
    "allow_ip_sans": True,
    "max_ttl": "72h",
}
APPROLE = {
    "token_policies": ["devstack"],
    "token_ttl": "1h",
    "token_max_ttl": "4h",
    "token_type": "service",
    "secret_id_ttl": "0",
    "secret_id_num_uses": 0,
    "bind_secret_id": True,
}


def secrets(cfg: Config) -> dict[str, dict[str, str]]:
    """The KV entries: each backend's credentials under its name."""
    entries = {
        "postgres": {
            "user": APP_USER,
            "password": cfg.cred("POSTGRES_PASSWORD"),
            "database": APP_DB,
            "tls_enabled": "false",
        },
        "mysql": {"root_password": "", "user": APP_USER, "password": cfg.cred("MYSQL_PASSWORD"), "database": APP_DB},
        "mongodb": {"user": APP_USER, "password": cfg.cred("MONGODB_PASSWORD"), "database": APP_DB},
    }
    for index in range(1, len(cfg.cluster_ports) + 1):
        entries[f"redis-{index}"] = {"password": cfg.cred("REDIS_CLUSTER_PASSWORD")}
    entries["rabbitmq"] = {"user": RMQ_USER, "password": cfg.cred("RABBITMQ_PASSWORD"), "vhost": RMQ_VHOST}
    return entries


def _kv(cfg: Config, vault: Vault, mounts: dict[str, Any]) -> None:
    kv_type = mount_type(mounts, "secret/")
    options = mounts.get("data", {}).get("secret/", {}).get("options") or {}
    if not kv_type:
        vault.must("POST", "sys/mounts/secret", {"type": "kv", "options": {"version": "2"}})
    elif kv_type != "kv":
        raise Failure(f"vault: secret/ is mounted as '{kv_type}', expected kv (v2)")
    elif str(options.get("version") or "1") != "2":
        vault.must("POST", "sys/mounts/secret/tune", {"options": {"version": "2"}})
    # a fresh or upgraded KV v2 mount needs a moment before it takes writes
    if not wait_until(lambda: vault.request("GET", "secret/config").code == 200, cfg.wait):
        raise Failure(f"vault: KV v2 at secret/ not ready on {cfg.vault_addr}")
    for name, want in secrets(cfg).items():
        # write only when different: a re-run leaves the versions alone
        answer = vault.request("GET", f"secret/data/{name}")

        if answer.code == 200 and as_json(answer.body).get("data", {}).get("data") == want:
            continue
        vault.must("POST", f"secret/data/{name}", {"data": want})


def _transit(vault: Vault, mounts: dict[str, Any]) -> None:
    if not mount_type(mounts, "transit/"):
        vault.must("POST", "sys/mounts/transit", {"type": "transit"})
    answer = vault.request("GET", "transit/keys/devstack")
    if answer.code == 404:
        vault.must("POST", "transit/keys/devstack", {"type": "aes256-gcm96"})
    elif answer.code != 200:
        raise Failure(f"vault: GET transit/keys/devstack on {vault.addr} -> HTTP {answer.code:03d}")
    else:
        key_type = as_json(answer.body).get("data", {}).get("type")
        if key_type != "aes256-gcm96":
            warn(f"vault: transit key devstack exists with type {key_type}, not aes256-gcm96")


def _pki(vault: Vault, mounts: dict[str, Any]) -> str:
    """The root CA (generated once per server), the issuing role; the CA's PEM."""
    if not mount_type(mounts, "pki/"):
        vault.must("POST", "sys/mounts/pki", {"type": "pki", "config": {"max_lease_ttl": "87600h"}})
    else:
        vault.must("POST", "sys/mounts/pki/tune", {"max_lease_ttl": "87600h"})
    answer = vault.request("GET", "pki/ca/pem")
    pem = answer.body
    if answer.code != 200 or "BEGIN CERTIFICATE" not in pem:
        root = {"common_name": "devstack dev root CA", "ttl": "87600h", "issuer_name": "devstack-root"}
        vault.must("POST", "pki/root/generate/internal", root)
        pem = vault.check("GET", "pki/ca/pem").body
    if "BEGIN CERTIFICATE" not in pem:
        raise Failure(f"vault: pki/ca/pem on {vault.addr} returned no certificate")
    vault.must("POST", "pki/roles/devstack", PKI_ROLE)
    return pem


def _approle(cfg: Config, vault: Vault) -> tuple[str, str]:
    """The AppRole ``devstack`` and its policy; its role id and a secret id that logs in."""
    if not mount_type(vault.must("GET", "sys/auth"), "approle/"):
        vault.must("POST", "sys/auth/approle", {"type": "approle"})
    vault.must("PUT", "sys/policies/acl/devstack", {"policy": POLICY})
    vault.must("POST", "auth/approle/role/devstack", APPROLE)
    role_id = str(vault.must("GET", "auth/approle/role/devstack/role-id").get("data", {}).get("role_id", ""))
    # Keep the current secret_id while it still logs in (stable for running processes);
    # mint a fresh one otherwise (new dev server, changed role).
    secret_id = read_text(cfg.approle_dir / "secret-id").rstrip("\n")
    if secret_id and read_text(cfg.approle_dir / "role-id").rstrip("\n") == role_id:
        login = {"role_id": role_id, "secret_id": secret_id}
        if vault.with_token("").request("POST", "auth/approle/login", login).code != 200:
            secret_id = ""
    else:
        secret_id = ""
    if not secret_id:
        minted = vault.must("POST", "auth/approle/role/devstack/secret-id", {})
        secret_id = str(minted.get("data", {}).get("secret_id", ""))
    return role_id, secret_id


def seed(cfg: Config, vault: Vault) -> tuple[str, str, str]:
    """Everything above with the root token; the CA's PEM, the role id and the secret id."""
    mounts = vault.must("GET", "sys/mounts")
    _kv(cfg, vault, mounts)
    _transit(vault, mounts)
    pem = _pki(vault, mounts)
    role_id, secret_id = _approle(cfg, vault)
    return pem, role_id, secret_id


def verify(cfg: Config, vault: Vault, role_id: str, secret_id: str) -> None:
    """AppRole login, then the token used the way the app will use it, then revoked."""
    login = vault.with_token("").must("POST", "auth/approle/login", {"role_id": role_id, "secret_id": secret_id})
    auth = login.get("auth") or {}
    if auth.get("renewable") is not True or "devstack" not in (auth.get("policies") or []):
        raise Failure("vault: AppRole login token is not renewable or lacks the devstack policy")
    app = vault.with_token(str(auth.get("client_token", "")))
    stored = app.must("GET", "secret/data/postgres").get("data", {}).get("data", {})
    if stored.get("password") != cfg.cred("POSTGRES_PASSWORD"):
        raise Failure("vault: secret/postgres does not hold the expected password")
    app.must("POST", "transit/encrypt/devstack", {"plaintext": "ZGV2c3RhY2s="})
    app.must("POST", "pki/issue/devstack", {"common_name": "localhost", "ip_sans": "127.0.0.1", "ttl": "5m"})
    app.must("POST", "auth/token/revoke-self")
