"""OpenBao (Vault API) in dev mode: in memory, started from the services venv, pid in
<run>/bao.pid; seeded by vault_seed on every `up`."""

from __future__ import annotations

import shutil

from devstack_services import vault_seed
from devstack_services.common import Failure, http, svc_line, tcp_open, write_file_atomic
from devstack_services.procs import start_daemon, stop_pid, terminate_ours
from devstack_services.settings import HOST, Config
from devstack_services.vault_api import Vault

NAME = "vault"


def health(cfg: Config) -> int:
    return http("GET", f"{cfg.vault_addr}/v1/sys/health").code


def _start(cfg: Config) -> None:
    pidfile = cfg.run / "bao.pid"
    pidfile.unlink(missing_ok=True)
    token = cfg.cred("VAULT_DEV_ROOT_TOKEN")
    command = [str(cfg.venv / "bin" / "bao"), "server", "-dev", f"-dev-root-token-id={token}"]
    command.append(f"-dev-listen-address={HOST}:{cfg.vault_port}")
    start_daemon(
        command, port=cfg.vault_port, ready=lambda: health(cfg) == 200, timeout=cfg.wait,
        log=cfg.run / "bao.log", cwd=cfg.run, pidfile=pidfile,
        failed=f"vault: bao server -dev on {HOST}:{cfg.vault_port} exited",
        not_ready=f"vault: /v1/sys/health not 200 on {cfg.vault_addr} after {cfg.wait}s",
    )  # fmt: skip


def up(cfg: Config) -> None:
    state = "reused"
    code = health(cfg)
    if code == 0:
        if tcp_open(cfg.vault_port):
            raise Failure(f"vault: something listens on {HOST}:{cfg.vault_port} but does not answer /v1/sys/health")
        _start(cfg)
        state = "started"
    elif code != 200:
        raise Failure(f"vault: {cfg.vault_addr}/v1/sys/health answers HTTP {code} (sealed, standby or uninitialised?)")
    root = Vault(cfg.vault_addr, cfg.cred("VAULT_DEV_ROOT_TOKEN"))
    if root.request("GET", "auth/token/lookup-self").code != 200:
        raise Failure(
            f"vault: the server on {cfg.vault_addr} does not accept the dev root token (not ours? stop it and re-run)"
        )
    ca, role_id, secret_id = vault_seed.seed(cfg, root)
    write_file_atomic(cfg.vault_ca, ca + "\n", 0o644)
    cfg.approle_dir.mkdir(parents=True, exist_ok=True)
    cfg.approle_dir.chmod(0o700)
    write_file_atomic(cfg.approle_dir / "role-id", role_id + "\n", 0o600)
    write_file_atomic(cfg.approle_dir / "secret-id", secret_id + "\n", 0o600)
    vault_seed.verify(cfg, root, role_id, secret_id)
    svc_line(NAME, state, f"{cfg.vault_addr} kv2 secret/, transit, pki, approle seeded")


def status(cfg: Config) -> None:
    svc_line(NAME, "up" if health(cfg) == 200 else "down", cfg.vault_addr)


def begin_down(cfg: Config) -> int | None:
    """SIGTERM to the server this tool started (others stop in parallel); its pid."""
    return terminate_ours(cfg.run / "bao.pid", "bao")


def finish_down(cfg: Config, pid: int | None) -> None:
    """Wait for it; its CA and AppRole credentials die with the in-memory server."""
    if pid is not None:
        stop_pid(pid, 10)
        shutil.rmtree(cfg.approle_dir, ignore_errors=True)
        cfg.vault_ca.unlink(missing_ok=True)
        svc_line(NAME, "stopped", f"pid {pid}")
    else:
        svc_line(NAME, "kept", "not started by services.sh")
    (cfg.run / "bao.pid").unlink(missing_ok=True)
