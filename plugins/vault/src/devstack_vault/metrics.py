"""The plugin's Prometheus collectors.

Every call to Vault is counted and timed in core's scheme (``OperationMetrics``):
``vault_operations_total{operation, result}`` and ``vault_operation_duration_seconds{operation}``
(operations: kv_read, kv_read_version, kv_write, transit_encrypt, transit_decrypt,
pki_issue, authenticate, login, token_lookup, token_renew, token_revoke, health). Two
families say what a call's result does not: ``vault_secret_cache_total{result}`` (secrets
served to other plugins: hit, miss or stale) and ``vault_token_renewals_total{result}``
(success, relogin or failure).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from devstack.api import OperationMetrics


class VaultMetrics:
    """The plugin's collectors, created on ``registry``: the application's, given by
    ``devstack_metrics``; until then (or in a bare service) a private one nobody exposes."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        registry = registry if registry is not None else CollectorRegistry()
        self.calls = OperationMetrics("vault", "Vault")
        self.calls.bind(registry)
        self.secret_cache = Counter(
            "vault_secret_cache", "Secrets served to plugins: hit, miss or stale", ["result"], registry=registry
        )
        self.renewals = Counter(
            "vault_token_renewals", "Token renewals: success, relogin or failure", ["result"], registry=registry
        )
