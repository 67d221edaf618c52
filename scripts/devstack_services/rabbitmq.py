"""RabbitMQ: the packaged node (rabbitmq-server -detached), the management plugin on
loopback, the vhost and the application user with full permissions and the management tag."""

from __future__ import annotations

import json
from pathlib import Path

from devstack_services.common import Failure, Http, http, ok, run, svc_line, tcp_open, warn
from devstack_services.procs import down_preinstalled, mark_started, start_daemon, stop_pid, wait_until
from devstack_services.settings import HOST, RMQ_USER, RMQ_VHOST, Config

NAME = "rabbitmq"
STARTUP_LOG = Path("/var/log/rabbitmq/startup_err")


def ctl(*args: str, timeout: float = 30) -> str:
    return run(["rabbitmqctl", "-q", *args], timeout=timeout).out


def ctl_ok(*args: str, timeout: float = 30) -> bool:
    return ok(["rabbitmqctl", "-q", *args], timeout=timeout)


def node_up() -> bool:
    return ctl_ok("await_startup", "--timeout", "10", timeout=15)


def mgmt_up(cfg: Config) -> bool:
    return http("GET", f"{cfg.rmq_mgmt_url}/api/overview").code != 0


def mgmt_erl_arg(cfg: Config) -> str:
    """The management listener on loopback only, applied at boot (when we start the node)."""
    return f'-rabbitmq_management tcp_config [{{ip,"{HOST}"}},{{port,{cfg.rmq_mgmt_port}}}]'


def mgmt_set_env(cfg: Config) -> str:
    """The same, online, before the plugin is first enabled."""
    listener = f'[{{ip, "{HOST}"}}, {{port, {cfg.rmq_mgmt_port}}}]'
    return f"application:set_env(rabbitmq_management, tcp_config, {listener}, [{{persistent, true}}])."


def _boot(cfg: Config) -> bool:
    """Start the node if nothing runs, wait for it (bounded); whether it was started."""
    started = False
    if not tcp_open(cfg.rmq_port) and not ctl_ok("ping", timeout=15):
        start_daemon(
            ["rabbitmq-server", "-detached"], port=cfg.rmq_port, ready=node_up, timeout=cfg.rabbit_wait,
            log=cfg.run / "rabbitmq-start.log", env={"RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": mgmt_erl_arg(cfg)},
            failed="rabbitmq: rabbitmq-server -detached failed", not_ready_log=STARTUP_LOG,
            not_ready=f"rabbitmq: node not started after {cfg.rabbit_wait}s (see /var/log/rabbitmq/)",
        )  # fmt: skip
        started = True
    elif not wait_until(node_up, cfg.rabbit_wait):
        raise Failure(f"rabbitmq: node not started after {cfg.rabbit_wait}s (see /var/log/rabbitmq/)", STARTUP_LOG)
    if not wait_until(lambda: tcp_open(cfg.rmq_port), cfg.wait):
        raise Failure(f"rabbitmq: node runs but {HOST}:{cfg.rmq_port} does not accept connections after {cfg.wait}s")
    if started:
        pid = "".join(c for c in ctl("eval", "os:getpid().", timeout=15) if c.isdigit())
        mark_started(cfg.run, NAME, int(pid or "0"))
    return started


def _management(cfg: Config) -> None:
    """The management plugin (enabling it works online)."""
    enabled = run(["rabbitmq-plugins", "-q", "list", "-e", "-m"], timeout=30).out.split()
    if "rabbitmq_management" not in enabled:
        if not ctl_ok("eval", mgmt_set_env(cfg)):
            warn(f"rabbitmq: could not pin the management listener to {HOST}")
        log = cfg.run / "rabbitmq-plugins.log"
        if run(["rabbitmq-plugins", "-q", "enable", "rabbitmq_management"], log=log, timeout=60).code != 0:
            raise Failure("rabbitmq: enabling rabbitmq_management failed", log)
    if not wait_until(lambda: mgmt_up(cfg), cfg.wait):
        raise Failure(f"rabbitmq: management API {cfg.rmq_mgmt_url}/api/overview not answering after {cfg.wait}s")


def _vhost_and_user(cfg: Config) -> None:
    """The vhost, the user, full permissions on the vhost: only what is missing."""
    perms = ctl("list_user_permissions", RMQ_USER).splitlines()
    if f"{RMQ_VHOST}\t.*\t.*\t.*" in perms:
        return
    if RMQ_VHOST not in ctl("list_vhosts", "name").splitlines() and not ctl_ok("add_vhost", RMQ_VHOST):
        raise Failure(f"rabbitmq: add_vhost {RMQ_VHOST} failed")
    users = [line.split()[0] for line in ctl("list_users").splitlines() if line.split()]
    if RMQ_USER not in users and not ctl_ok("add_user", RMQ_USER, cfg.cred("RABBITMQ_PASSWORD")):
        raise Failure(f"rabbitmq: add_user {RMQ_USER} failed")
    if not ctl_ok("set_permissions", "-p", RMQ_VHOST, RMQ_USER, ".*", ".*", ".*"):
        raise Failure(f"rabbitmq: set_permissions for {RMQ_USER} on vhost {RMQ_VHOST} failed")


def _as_user(cfg: Config, path: str) -> Http:
    return http("GET", f"{cfg.rmq_mgmt_url}{path}", basic=(RMQ_USER, cfg.cred("RABBITMQ_PASSWORD")))


def _json(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _password_and_tags(cfg: Config) -> None:
    """The password from the credentials file and the management tag, checked through the
    management API the way a client logs in."""
    whoami = _json(_as_user(cfg, "/api/whoami").body)
    if not isinstance(whoami, dict) or whoami.get("name") != RMQ_USER:
        if not ctl_ok("change_password", RMQ_USER, cfg.cred("RABBITMQ_PASSWORD")):
            raise Failure(f"rabbitmq: change_password for {RMQ_USER} failed")
        whoami = _json(_as_user(cfg, "/api/whoami").body)
    tags = whoami.get("tags", []) if isinstance(whoami, dict) else []
    if isinstance(tags, str):
        tags = tags.split(",")
    if "management" not in tags and not ctl_ok("set_user_tags", RMQ_USER, "management"):
        raise Failure(f"rabbitmq: set_user_tags {RMQ_USER} management failed")
    if not wait_until(lambda: _as_user(cfg, "/api/overview").code == 200, 10):
        raise Failure(f"rabbitmq: user {RMQ_USER} cannot use the management API {cfg.rmq_mgmt_url}")
    vhosts = _json(_as_user(cfg, "/api/vhosts").body)
    if not isinstance(vhosts, list) or not any(isinstance(v, dict) and v.get("name") == RMQ_VHOST for v in vhosts):
        raise Failure(f"rabbitmq: user {RMQ_USER} has no access to vhost {RMQ_VHOST}")


def up(cfg: Config) -> None:
    state = "reused"
    # listeners open and management answering means the node has booted
    if not (tcp_open(cfg.rmq_port) and mgmt_up(cfg)) and _boot(cfg):
        state = "started"
    if not mgmt_up(cfg):
        _management(cfg)
    _vhost_and_user(cfg)
    _password_and_tags(cfg)
    detail = f"amqp://{HOST}:{cfg.rmq_port}/{RMQ_VHOST} user={RMQ_USER}, management {cfg.rmq_mgmt_url}"
    svc_line(NAME, state, detail)


def status(cfg: Config) -> None:
    state = "up" if tcp_open(cfg.rmq_port) else "down"
    svc_line(NAME, state, f"{HOST}:{cfg.rmq_port}, management {'up' if mgmt_up(cfg) else 'down'}")


def down(cfg: Config) -> None:
    def stop(pid: int) -> None:
        if not ctl_ok("shutdown", timeout=90):
            stop_pid(pid, 30)

    down_preinstalled(cfg.run, NAME, "beam", stop)
