"""The runtime: building the application (plugins, contract, routes, pipeline), core's own
routes, health checks, serving, TLS and graceful shutdown.
"""
