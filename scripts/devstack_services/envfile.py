"""The ``export KEY=value`` lines of .run/devstack.env (and of ``services.sh env``): the
connection settings the app and the tests read. Dev-only credentials, on purpose."""

from __future__ import annotations

from devstack_services.common import env_quote, read_text
from devstack_services.settings import APP_DB, APP_USER, HOST, RMQ_USER, RMQ_VHOST, Config

HEADER = "# devstack local services (scripts/services.sh); dev-only credentials"


def settings(cfg: Config) -> list[tuple[str, str]]:
    """Every key in the order the shell tool wrote them."""
    auth = read_text(cfg.run / "mongodb-auth").rstrip("\n") or "true"
    nodes = ",".join(f"redis-{i}={HOST}:{port}" for i, port in enumerate(cfg.cluster_ports, start=1))
    return [
        ("VAULT_ADDR", cfg.vault_addr),
        ("VAULT_TOKEN", cfg.cred("VAULT_DEV_ROOT_TOKEN")),
        ("VAULT_APPROLE_DIR", str(cfg.approle_dir)),
        ("VAULT_CA_CERT", str(cfg.vault_ca)),
        ("POSTGRES_HOST", HOST),
        ("POSTGRES_PORT", str(cfg.pg_port)),
        ("POSTGRES_USER", APP_USER),
        ("POSTGRES_PASSWORD", cfg.cred("POSTGRES_PASSWORD")),
        ("POSTGRES_DB", APP_DB),
        ("MYSQL_HOST", HOST),
        ("MYSQL_PORT", str(cfg.my_port)),
        ("MYSQL_USER", APP_USER),
        ("MYSQL_PASSWORD", cfg.cred("MYSQL_PASSWORD")),
        ("MYSQL_DATABASE", APP_DB),
        ("MONGODB_HOST", HOST),
        ("MONGODB_PORT", str(cfg.mongo_port)),
        ("MONGODB_USER", APP_USER),
        ("MONGODB_PASSWORD", cfg.cred("MONGODB_PASSWORD")),
        ("MONGODB_DATABASE", APP_DB),
        ("MONGODB_AUTH", auth),
        ("REDIS_URL", f"redis://{HOST}:{cfg.redis_port}/0"),
        ("REDIS_NODES", nodes),
        ("REDIS_CLUSTER_PASSWORD", cfg.cred("REDIS_CLUSTER_PASSWORD")),
        ("RABBITMQ_HOST", HOST),
        ("RABBITMQ_PORT", str(cfg.rmq_port)),
        ("RABBITMQ_USER", RMQ_USER),
        ("RABBITMQ_PASSWORD", cfg.cred("RABBITMQ_PASSWORD")),
        ("RABBITMQ_VHOST", RMQ_VHOST),
        ("RABBITMQ_MANAGEMENT_URL", cfg.rmq_mgmt_url),
    ]


def render(cfg: Config) -> str:
    lines = [HEADER] + [f"export {key}={env_quote(value)}" for key, value in settings(cfg)]
    return "\n".join(lines) + "\n"
