"""The plugin's Prometheus collectors."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class VaultMetrics:
    """``vault_requests_total``, ``vault_secret_cache_total`` and ``vault_token_renewals_total``.

    Created on the application's registry by ``devstack_metrics``; until then (or in a
    bare service) on a private registry nobody exposes.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        registry = registry if registry is not None else CollectorRegistry()
        self.requests = Counter(
            "vault_requests", "Vault API calls by operation and result", ["operation", "result"], registry=registry
        )
        self.secret_cache = Counter(
            "vault_secret_cache", "Secrets served to plugins: hit, miss or stale", ["result"], registry=registry
        )
        self.renewals = Counter(
            "vault_token_renewals", "Token renewals: success, relogin or failure", ["result"], registry=registry
        )
