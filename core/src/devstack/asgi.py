"""The ASGI application for Hypercorn workers: ``devstack.asgi:app``."""

from devstack.runtime.app import create_app

app = create_app()
