"""Which ``limits`` storage a rate-limit URI names, and whether its client library is here.

Core knows no storage backend: the scheme of ``DEVSTACK_RATE_LIMIT_STORAGE`` picks one of
``limits``' own storage classes, and the class declares the client libraries it can use
(``DEPENDENCIES``). Options are handed to a class only when its signature takes them.
"""

from __future__ import annotations

import importlib.util
import inspect
from typing import Any

import limits.storage

# this distribution's extras, by the client library each installs
EXTRAS = {"redis": "devstack-core[redis]"}


def async_uri(uri: str) -> str:
    """The async ``limits`` URI for a setting written ``memory://`` or ``redis://...``."""
    return uri if uri.startswith("async+") else f"async+{uri}"


def storage_class(uri: str) -> type[Any]:
    """The ``limits`` storage class of ``uri``'s scheme; ValueError for an unknown one."""
    schemes: dict[str, type[Any]] = getattr(limits.storage, "SCHEMES", {})
    scheme = async_uri(uri).split("://", 1)[0]
    found = schemes.get(scheme)
    if found is None:
        raise ValueError(f"unknown rate-limit storage scheme {scheme.removeprefix('async+')!r}")
    return found


def installed_clients(cls: type[Any]) -> list[str]:
    """The client libraries ``cls`` can use that are installed, in ``cls``' order."""
    return [name for name in getattr(cls, "DEPENDENCIES", {}) if importlib.util.find_spec(name) is not None]


def check_storage_uri(uri: str) -> str:
    """A usable storage URI: a known scheme whose client library is installed."""
    cls = storage_class(uri)
    wanted = list(getattr(cls, "DEPENDENCIES", {}))
    if wanted and not installed_clients(cls):
        hints = [f"{EXTRAS[name]} installs {name}" for name in wanted if name in EXTRAS]
        raise ValueError(
            f"the {uri.split('://', 1)[0]} storage needs one of the client libraries {', '.join(wanted)}, "
            f"and none is installed" + (f" ({'; '.join(hints)})" if hints else "")
        )
    return uri


def storage_options(cls: type[Any], key_prefix: str) -> dict[str, Any]:
    """The options core sets that ``cls`` takes: its key prefix, and the implementation
    (client library) that is installed when it can use several."""
    parameters = inspect.signature(cls.__init__).parameters
    options: dict[str, Any] = {}
    if "key_prefix" in parameters:
        options["key_prefix"] = key_prefix
    clients = installed_clients(cls)
    if "implementation" in parameters and clients:
        options["implementation"] = {"redis": "redispy"}.get(clients[0], clients[0])
    return options
