"""Observability: JSON logs and core's Prometheus metrics."""
