"""The public API for plugins: everything a plugin imports from core is here.

A plugin imports ``devstack.hookimpl`` (to mark its hooks) and this module, nothing else
of core; a lint contract (``lint-imports``, see the workspace pyproject) fails CI when a
plugin imports any other core module. Here:

- the hook types: ``Host`` (passed to every hook), ``HealthCheck``, ``TlsMaterial``,
  ``CacheBackend``;
- the error answers (``ApiError`` and its subclasses, ``invalid``): raise them from a
  route and core renders the JSON envelope;
- the request's validated inputs (``validated()``) and the health body (``health_body``);
- the backend kit: ``BackgroundOpener`` (open a client in the background with backoff),
  ``OperationMetrics`` (the one metrics scheme: ``<plugin>_operations_total{operation,result}``,
  ``<plugin>_operation_duration_seconds``, ``<plugin>_pool_size``), the shared cache types;
- ``PLUGIN_API_VERSION``: the plugin API this core provides; a plugin declares the one it
  was built for as ``DEVSTACK_PLUGIN_API = "1.0"`` on its plugin module, checked at load
  (see ``devstack.plugin_system.compat``);
- devstack's masking policy (``sensitive_name``, ``masked``, ``masked_all``, ``mask_text``,
  ``MASK``);
- ``comma_separated``: the one format of a list setting in the environment (``a,b,c``; a
  JSON list is refused), as ``Annotated[list[str], NoDecode, BeforeValidator(comma_separated)]``.

Plugin state (pools, clients) is kept with ``host.state(Type, create)``; a breaker's state
with ``host.breaker_state(service)``; the default backend timeout is ``host.backend_timeout``.
"""

from __future__ import annotations

from devstack.contract.inputs import ValidatedRequest, validated
from devstack.foundation.errors import (
    ApiError,
    BadRequest,
    InternalServerError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
    UnsupportedMediaType,
    ValidationFailed,
    invalid,
)
from devstack.foundation.masking import MASK, mask_text, masked, masked_all, sensitive_name
from devstack.foundation.settings import split_csv as comma_separated
from devstack.kit.cache import CacheBackend, CacheUnavailable, MemoryCache, OwnedCache, fingerprint
from devstack.kit.opener import BackgroundOpener
from devstack.kit.operation_metrics import OperationMetrics
from devstack.kit.pool_metrics import PoolCallMetrics
from devstack.plugin_system.compat import PLUGIN_API_VERSION
from devstack.plugin_system.contributions import HealthBody, HealthCheck, Probe, TlsMaterial, health_body
from devstack.plugin_system.host import Host

__all__ = [
    "MASK",
    "PLUGIN_API_VERSION",
    "ApiError",
    "BackgroundOpener",
    "BadRequest",
    "CacheBackend",
    "CacheUnavailable",
    "HealthBody",
    "HealthCheck",
    "Host",
    "InternalServerError",
    "MemoryCache",
    "MethodNotAllowed",
    "NotFound",
    "OperationMetrics",
    "OwnedCache",
    "PayloadTooLarge",
    "PoolCallMetrics",
    "Probe",
    "ServiceUnavailable",
    "TlsMaterial",
    "TooManyRequests",
    "Unauthorized",
    "UnsupportedMediaType",
    "ValidatedRequest",
    "ValidationFailed",
    "comma_separated",
    "fingerprint",
    "health_body",
    "invalid",
    "mask_text",
    "masked",
    "masked_all",
    "sensitive_name",
    "validated",
]
