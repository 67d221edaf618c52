"""Helpers of the vault plugin's tests: a private OpenBao dev server and the app's
environment (the generic ones are in devstack.testkit).

The shared server of ``scripts/services.sh`` (8200) is used by everyone and must not be
stopped; tests that need an outage start their own ``bao server -dev`` on a free port.
The dev server keeps everything in memory, so a restart loses the seeded data: seed again.
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hvac
import pytest
from devstack_vault.service import VaultService, service_of

from devstack.testing import host_of

REPO = Path(__file__).resolve().parents[3]
ROOT_TOKEN = "root"

TEST_POLICY = """
path "secret/data/*" { capabilities = ["create", "read", "update", "list"] }
path "secret/metadata/*" { capabilities = ["read", "list"] }
path "transit/encrypt/devstack" { capabilities = ["update"] }
path "transit/decrypt/devstack" { capabilities = ["update"] }
path "pki/issue/devstack" { capabilities = ["update"] }
"""


def bao_binary() -> str:
    candidates = [os.environ.get("BAO_BIN"), shutil.which("bao"), str(REPO / ".services-venv" / "bin" / "bao")]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    pytest.fail("the OpenBao binary was not found: run scripts/services.sh up (or set BAO_BIN)")


def port_pair() -> int:
    """A port P with P and P+1 free (the dev server's API and cluster listeners)."""
    for _ in range(50):
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            port: int = first.getsockname()[1]
            try:
                with socket.socket() as second:
                    second.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no free pair of ports")


def wait_healthy(addr: str, timeout: float = 20.0, cafile: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            context = ssl.create_default_context(cafile=str(cafile)) if cafile is not None else None
            with urllib.request.urlopen(f"{addr}/v1/sys/health", timeout=1, context=context) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"OpenBao on {addr} did not become healthy")


@dataclass
class AppRoleIds:
    role_id: str
    secret_id: str


class PrivateBao:
    """``bao server -dev`` on its own port, started and stopped by a test."""

    def __init__(self, workdir: Path, tls: bool = False) -> None:
        self.port = port_pair()
        self.tls = tls
        self.addr = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.workdir = workdir
        self.approle_dir = workdir / "approle"
        self.tls_dir = workdir / "tls"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def ca_file(self) -> Path | None:
        """The CA of the listener's certificate (``-dev-tls`` generates both)."""
        return self.tls_dir / "vault-ca.pem" if self.tls else None

    def start(self) -> PrivateBao:
        log = open(self.workdir / "bao.log", "ab")
        self.process = subprocess.Popen(
            [
                bao_binary(),
                "server",
                "-dev",
                f"-dev-root-token-id={ROOT_TOKEN}",
                f"-dev-listen-address=127.0.0.1:{self.port}",
                *(["-dev-tls", f"-dev-tls-cert-dir={self.tls_dir}"] if self.tls else []),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
            env={**os.environ, "HOME": str(self.workdir)},
        )
        log.close()
        if self.tls:
            self.tls_dir.mkdir(exist_ok=True)
            deadline = time.monotonic() + 10
            while not (self.tls_dir / "vault-ca.pem").exists() and time.monotonic() < deadline:
                time.sleep(0.05)
        wait_healthy(self.addr, cafile=self.ca_file)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # until the port is free again
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) != 0:
                    return
            time.sleep(0.05)

    def root(self) -> hvac.Client:
        verify: bool | str = str(self.ca_file) if self.ca_file is not None else True
        return hvac.Client(url=self.addr, token=ROOT_TOKEN, timeout=5, verify=verify)

    # seeding ----------------------------------------------------------------------------
    def seed_kv(self, secrets: dict[str, dict[str, str]]) -> None:
        client = self.root()
        deadline = time.monotonic() + 10
        while True:  # the dev server's secret/ KV v2 takes a moment before it accepts writes
            try:
                client.secrets.kv.v2.read_configuration(mount_point="secret")
                break
            except hvac.exceptions.VaultError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        for name, data in secrets.items():
            client.secrets.kv.v2.create_or_update_secret(path=name, secret=data, mount_point="secret")

    def seed_transit(self) -> None:
        client = self.root()
        client.sys.enable_secrets_engine("transit", path="transit")
        client.secrets.transit.create_key("devstack", key_type="aes256-gcm96")

    def seed_pki(self) -> None:
        client = self.root()
        client.sys.enable_secrets_engine("pki", path="pki", config={"max_lease_ttl": "87600h"})
        client.secrets.pki.generate_root("internal", "test root CA", extra_params={"ttl": "87600h"}, mount_point="pki")
        client.secrets.pki.create_or_update_role(
            "devstack",
            extra_params={
                "allowed_domains": ["localhost"],
                "allow_localhost": True,
                "allow_bare_domains": True,
                "allow_subdomains": True,
                "allow_ip_sans": True,
                "max_ttl": "72h",
            },
            mount_point="pki",
        )

    def seed_approle(self, token_ttl: str = "1h", token_max_ttl: str = "4h") -> AppRoleIds:
        """AppRole role ``devstack``; its ids are written to ``approle_dir`` like services.sh does."""
        client = self.root()
        if "approle/" not in client.sys.list_auth_methods()["data"]:
            client.sys.enable_auth_method("approle")
        client.sys.create_or_update_policy("devstack", TEST_POLICY)
        client.auth.approle.create_or_update_approle(
            "devstack",
            token_policies=["devstack"],
            token_ttl=token_ttl,
            token_max_ttl=token_max_ttl,
            token_type="service",
        )
        role_id = client.auth.approle.read_role_id("devstack")["data"]["role_id"]
        secret_id = client.auth.approle.generate_secret_id("devstack")["data"]["secret_id"]
        self.approle_dir.mkdir(mode=0o700, exist_ok=True)
        (self.approle_dir / "role-id").write_text(role_id + "\n")
        (self.approle_dir / "secret-id").write_text(secret_id + "\n")
        return AppRoleIds(role_id, secret_id)


VAULT_KEYS = (
    "VAULT_ADDR",
    "VAULT_TOKEN",
    "VAULT_APPROLE_DIR",
    "VAULT_ROLE_ID",
    "VAULT_SECRET_ID",
    "VAULT_CA_CERT",
)

SEEDED = {
    "postgres": {"user": "appuser", "password": "pg-secret", "database": "appdb", "tls_enabled": "false"},
    "mysql": {"root_password": "", "user": "appuser", "password": "my-secret", "database": "appdb"},
    "redis-1": {"password": "redis-secret"},
}


def vault_env(addr: str, **values: str | None) -> dict[str, str | None]:
    """Every VAULT_* variable the plugin reads: the given ones, the rest removed."""
    env: dict[str, str | None] = dict.fromkeys(VAULT_KEYS)
    env["VAULT_ADDR"] = addr
    env.update({f"VAULT_{key.upper()}": value for key, value in values.items()})
    return env


def vault_service(app: Any) -> VaultService:
    return service_of(host_of(app))
