"""The ASGI application for Hypercorn workers: ``devstack.asgi:app``."""

from devstack.app import create_app

app = create_app()
