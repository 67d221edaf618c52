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
- the datastore kit, what every database plugin shares: ``Datastore`` (the driver a
  plugin writes: its pool and statements), ``DatastoreSettings`` (the settings base),
  ``DatastorePlugin`` (the hook implementations: ``plugin = DatastorePlugin(MyStore, plugin_api="1.0")``),
  ``DatastoreService``, ``Credentials``, ``Page``, ``Record``, ``CachedTotal``,
  ``stored_json``, ``PAGE_VALUE_BYTES``;
- ``PLUGIN_API_VERSION``: the plugin API this core provides; a plugin declares the one it
  was built for as ``DEVSTACK_PLUGIN_API = "1.0"`` on its plugin module or object (the
  datastore kit's ``plugin_api=``), checked at load
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
from devstack.datastore.plugin import DatastorePlugin
from devstack.datastore.records import PAGE_VALUE_BYTES, CachedTotal, Page, Record, stored_json
from devstack.datastore.service import DatastoreService
from devstack.datastore.settings import DatastoreSettings
from devstack.datastore.store import Credentials, Datastore
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
from devstack.plugin_system.compat import PLUGIN_API_VERSION
from devstack.plugin_system.contributions import HealthBody, HealthCheck, Probe, TlsMaterial, health_body
from devstack.plugin_system.host import Host

__all__ = [
    "MASK",
    "PAGE_VALUE_BYTES",
    "PLUGIN_API_VERSION",
    "ApiError",
    "BackgroundOpener",
    "BadRequest",
    "CacheBackend",
    "CacheUnavailable",
    "CachedTotal",
    "Credentials",
    "Datastore",
    "DatastorePlugin",
    "DatastoreService",
    "DatastoreSettings",
    "HealthBody",
    "HealthCheck",
    "Host",
    "InternalServerError",
    "MemoryCache",
    "MethodNotAllowed",
    "NotFound",
    "OperationMetrics",
    "OwnedCache",
    "Page",
    "PayloadTooLarge",
    "Probe",
    "Record",
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
    "stored_json",
    "validated",
]
