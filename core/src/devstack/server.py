"""``devstack serve``: Hypercorn (uvloop workers) on the plain and, with TLS, the HTTPS port."""

from __future__ import annotations

import os
import shutil
import tempfile

from hypercorn.config import Config
from hypercorn.run import run

from devstack.settings import CoreSettings


def hypercorn_config(settings: CoreSettings) -> Config:
    config = Config()
    config.application_path = "devstack.asgi:app"
    config.worker_class = "uvloop"
    config.workers = settings.workers if settings.workers > 1 else 0
    config.graceful_timeout = settings.shutdown_grace
    config.accesslog = None
    config.errorlog = "-"
    config.keep_alive_timeout = 5
    plain = f"{settings.host}:{settings.port}"
    if settings.tls_enabled:
        if not (settings.tls_cert_file and settings.tls_key_file):
            raise SystemExit("devstack: TLS is enabled but DEVSTACK_TLS_CERT_FILE / DEVSTACK_TLS_KEY_FILE are not set")
        config.certfile = str(settings.tls_cert_file)
        config.keyfile = str(settings.tls_key_file)
        config.bind = [f"{settings.host}:{settings.https_port}"]
        config.insecure_bind = [plain]
    else:
        config.bind = [plain]
    return config


def prepare_multiprocess_metrics(settings: CoreSettings) -> None:
    """With several workers, point prometheus-client at a fresh shared directory."""
    if settings.workers <= 1:
        return
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(prefix="devstack-metrics-")
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory


def serve() -> int:
    settings = CoreSettings()
    prepare_multiprocess_metrics(settings)
    return run(hypercorn_config(settings))
