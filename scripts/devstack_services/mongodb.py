"""SecantusDB (MongoDB API) from the services venv: data in <run>/mongodb-data, pid in
<run>/mongodb.pid, the application user provisioned on a server started without auth,
then the server restarted with --auth. Talks to it with pymongo (also in that venv)."""

from __future__ import annotations

import hashlib
from enum import IntEnum
from typing import Any

import pymongo
from pymongo.errors import OperationFailure, PyMongoError

from devstack_services.common import Failure, read_text, svc_line, tcp_open, warn
from devstack_services.procs import (
    pid_matches,
    pidfile_matches,
    read_pid,
    start_daemon,
    stop_pid,
    terminate_ours,
    wait_until,
)
from devstack_services.settings import APP_DB, APP_USER, HOST, Config

NAME = "mongodb"
ROLES = [
    {"role": "readWrite", "db": APP_DB},
    {"role": "dbOwner", "db": APP_DB},
    {"role": "clusterMonitor", "db": "admin"},
]


class Check(IntEnum):
    """What ``verify`` found (the exit codes of the shell tool's probe)."""

    OK = 0  # appuser works and unauthenticated writes are refused
    NO_ANSWER = 1
    NO_AUTH = 2  # appuser cannot authenticate
    OPEN = 3  # appuser works but the server does not enforce auth


def client(cfg: Config, **options: Any) -> pymongo.MongoClient[dict[str, Any]]:
    settings: dict[str, Any] = {"serverSelectionTimeoutMS": 2000, "connectTimeoutMS": 2000, **options}
    return pymongo.MongoClient(HOST, cfg.mongo_port, **settings)


def _log(cfg: Config, line: str) -> None:
    with (cfg.run / "mongodb.log").open("a") as handle:
        handle.write(line + "\n")


def answers(cfg: Config) -> bool:
    try:
        with client(cfg, serverSelectionTimeoutMS=500) as mongo:
            mongo.admin.command("ping")
    except PyMongoError:
        return False
    return True


def provision(cfg: Config) -> None:
    """The user in appdb (authSource=appdb) and in admin (the driver's default authSource),
    same password, same roles. The server must run without --auth."""
    password = cfg.cred("MONGODB_PASSWORD")
    try:
        with client(cfg) as mongo:
            for source in (APP_DB, "admin"):
                db = mongo[source]
                verb = "updateUser" if db.command("usersInfo", APP_USER)["users"] else "createUser"
                db.command(verb, APP_USER, pwd=password, roles=ROLES)
    except PyMongoError as error:
        _log(cfg, f"mongodb: creating user {APP_USER} failed: {type(error).__name__}")
        message = f"mongodb: creating user {APP_USER} on {HOST}:{cfg.mongo_port} failed"
        raise Failure(message, cfg.run / "mongodb.log") from None


def verify(cfg: Config, wait: float) -> Check:
    """Wait up to ``wait`` seconds for an answer, then: appuser writes (with both
    authSources), and an unauthenticated write is refused."""
    if not wait_until(lambda: answers(cfg), wait):
        _log(cfg, f"mongodb: no answer on {HOST}:{cfg.mongo_port}")
        return Check.NO_ANSWER
    password = cfg.cred("MONGODB_PASSWORD")
    try:
        for source in (APP_DB, "admin"):
            with client(cfg, username=APP_USER, password=password, authSource=source) as mongo:
                probe = mongo[APP_DB]["_devstack_probe"]
                oid = probe.insert_one({"probe": True, "authSource": source}).inserted_id
                if probe.find_one({"_id": oid}) is None:
                    return Check.NO_AUTH
                probe.delete_one({"_id": oid})
        with client(cfg) as mongo:
            try:
                mongo[APP_DB]["_devstack_probe"].insert_one({"probe": "anonymous"})
            except OperationFailure:
                return Check.OK
            mongo[APP_DB]["_devstack_probe"].delete_many({"probe": "anonymous"})
            return Check.OPEN
    except OperationFailure as error:
        _log(cfg, f"mongodb: {APP_USER} cannot authenticate/write: {error.code}")
        return Check.NO_AUTH
    except PyMongoError as error:
        _log(cfg, f"mongodb: no answer on {HOST}:{cfg.mongo_port}: {type(error).__name__}")
        return Check.NO_ANSWER


def ours(cfg: Config) -> bool:
    return pidfile_matches(cfg.run / "mongodb.pid", "secantusd")


def start(cfg: Config, auth: bool) -> None:
    (cfg.run / "mongodb.pid").unlink(missing_ok=True)
    data = cfg.run / "mongodb-data"
    data.mkdir(parents=True, exist_ok=True)
    # An explicit (empty) config file: no ./ ~/ /etc secantusd.toml gets picked up.
    config = cfg.run / "secantusd.toml"
    if not config.is_file():
        config.write_text("# intentionally empty (scripts/services.sh)\n")
    command = [str(cfg.venv / "bin" / "secantusd-py"), "--config", str(config), "--host", HOST]
    command += ["--port", str(cfg.mongo_port), "--storage-path", str(data), "--log-level", "INFO"]
    start_daemon(
        command + (["--auth"] if auth else []),
        port=cfg.mongo_port, ready=lambda: answers(cfg), timeout=cfg.wait, log=cfg.run / "mongodb.log",
        append=True, cwd=cfg.run, pidfile=cfg.run / "mongodb.pid",
        failed=f"mongodb: secantusd on {HOST}:{cfg.mongo_port} exited",
        not_ready=f"mongodb: secantusd not answering on {HOST}:{cfg.mongo_port} after {cfg.wait}s",
    )  # fmt: skip


def stop(cfg: Config) -> None:
    pid = read_pid(cfg.run / "mongodb.pid")
    if pid is not None and pid_matches(pid, "secantusd"):
        stop_pid(pid, 10)
    (cfg.run / "mongodb.pid").unlink(missing_ok=True)
    if not wait_until(lambda: not tcp_open(cfg.mongo_port), 10):
        raise Failure(f"mongodb: port {cfg.mongo_port} still busy after stopping secantusd")


def mark(cfg: Config) -> str:
    """The fingerprint of the provisioned user and password (no password on disk)."""
    return hashlib.sha256(f"{APP_USER}:{cfg.cred('MONGODB_PASSWORD')}".encode()).hexdigest()


def provision_and_restart(cfg: Config) -> None:
    """Start without auth, create/update the user, restart with --auth."""
    stop(cfg)
    start(cfg, auth=False)
    provision(cfg)
    (cfg.run / "mongodb-users.sha256").write_text(mark(cfg) + "\n")
    stop(cfg)
    start(cfg, auth=True)


def _reuse(cfg: Config) -> tuple[str, bool, Check]:
    """A server answers on the port: check it, re-provision it when it is ours."""
    found = verify(cfg, 10)
    log = cfg.run / "mongodb.log"
    if found == Check.NO_ANSWER:
        raise Failure(f"mongodb: {HOST}:{cfg.mongo_port} is open but does not answer like a MongoDB server", log)
    if found in (Check.NO_AUTH, Check.OPEN) and ours(cfg):
        # ours, but the user is missing/stale or it runs without --auth (an interrupted
        # earlier run): re-provision and restart with --auth
        provision_and_restart(cfg)
        return "started", True, verify(cfg, cfg.wait)
    if found == Check.NO_AUTH:
        raise Failure(
            f"mongodb: the server on {HOST}:{cfg.mongo_port} rejects {APP_USER} and was not started by services.sh"
        )
    if found == Check.OPEN:
        # A server without auth (not ours, or started by hand): make the user exist anyway
        # so the credentials work, and say auth is off.
        provision(cfg)
        warn(f"mongodb: the server on {HOST}:{cfg.mongo_port} does not enforce auth (MONGODB_AUTH=false)")
        return "reused", False, Check.OK
    return "reused", True, found


def _start_fresh(cfg: Config) -> Check:
    """Nothing answers: start with --auth when the user was provisioned with today's
    password (the data dir keeps it), else provision first."""
    marked = read_text(cfg.run / "mongodb-users.sha256").strip() == mark(cfg)
    if marked and (cfg.run / "mongodb-data").is_dir():
        start(cfg, auth=True)
        if verify(cfg, cfg.wait) == Check.OK:
            return Check.OK
    provision_and_restart(cfg)
    return verify(cfg, cfg.wait)


def up(cfg: Config) -> None:
    if tcp_open(cfg.mongo_port):
        state, auth, found = _reuse(cfg)
    else:
        state, auth, found = "started", True, _start_fresh(cfg)
    if found == Check.OPEN:
        raise Failure(
            f"mongodb: secantusd on {HOST}:{cfg.mongo_port} runs with --auth but accepted an unauthenticated write"
        )
    if found != Check.OK:
        raise Failure(
            f"mongodb: {APP_USER} cannot authenticate and write to {APP_DB} on {HOST}:{cfg.mongo_port}",
            cfg.run / "mongodb.log",
        )
    flag = "true" if auth else "false"
    (cfg.run / "mongodb-auth").write_text(flag + "\n")
    svc_line(NAME, state, f"mongodb://{HOST}:{cfg.mongo_port}/{APP_DB} user={APP_USER} auth={flag} (SecantusDB)")


def status(cfg: Config) -> None:
    state = "down"
    if tcp_open(cfg.mongo_port):
        state = "up" if wait_until(lambda: answers(cfg), 2) else "degraded"
    svc_line(NAME, state, f"{HOST}:{cfg.mongo_port}")


def begin_down(cfg: Config) -> int | None:
    """SIGTERM to the server this tool started (others stop in parallel); its pid."""
    return terminate_ours(cfg.run / "mongodb.pid", "secantusd")


def finish_down(cfg: Config, pid: int | None) -> None:
    if pid is not None:
        stop_pid(pid, 10)
        svc_line(NAME, "stopped", f"pid {pid} (data kept in {cfg.run_label}/mongodb-data)")
    else:
        svc_line(NAME, "kept", "not started by services.sh")
    (cfg.run / "mongodb.pid").unlink(missing_ok=True)
