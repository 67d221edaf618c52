"""The driver interface a database plugin implements: its pool and its statements.

Everything else (credentials, the background opener, the guard and the metrics, health,
routes, hooks) is the kit's and calls these methods. The statements (:meth:`Datastore.query`,
``insert``, ``page``) run inside core's backend guard (breaker, timeout, 503) and are
measured; :meth:`Datastore.version` runs under the health probe's timeout; opening,
preparing and closing the pool are the background opener's, bounded by the driver.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Literal, TypeVar

from devstack.datastore.records import Page, Record
from devstack.datastore.settings import DatastoreSettings

PoolT = TypeVar("PoolT")
SettingsT = TypeVar("SettingsT", bound=DatastoreSettings)


@dataclass(frozen=True)
class Credentials:
    """Whom the pool logs in as: the secrets provider's answer, else the settings."""

    user: str
    password: str = field(repr=False)
    database: str
    source: Literal["secrets", "settings"]

    @property
    def authenticates(self) -> bool:
        """Both a user and a password are known (a server may allow neither)."""
        return bool(self.user and self.password)


class Datastore(ABC, Generic[PoolT, SettingsT]):
    """One database's driver. Subclass it, set the class attributes, implement the methods.

    ``name`` is the plugin's name: its circuit breaker, health check, metrics prefix,
    secrets service (unless set) and route ``/examples/database/<name>``. ``product`` is
    the database as answers and messages name it (``"PostgreSQL"``).
    """

    name: ClassVar[str]
    product: ClassVar[str]
    settings_model: ClassVar[type[DatastoreSettings]]
    health_description: ClassVar[str]
    query_operation: ClassVar[str] = "query"
    """The metrics ``operation`` of ``GET /examples/database/<name>/query``."""
    measures_pool: ClassVar[bool] = True
    """Whether :meth:`pool_size` is known (``<name>_pool_size`` is exported)."""
    discards: ClassVar[bool] = False
    """Whether :meth:`discard_pool` can drop a pool at once (else it is closed)."""
    not_connected: ClassVar[str] = ""
    """The message of the 503 while there is no pool (default: "<product> is not connected")."""
    not_ready: ClassVar[str] = ""
    """The health error while no attempt reached the server (default: the unhealthy one)."""
    timed_out: ClassVar[str] = ""
    """The health error when the probe timed out (default: the unhealthy one)."""

    def __init__(self, settings: SettingsT) -> None:
        self.settings = settings

    @property
    def unhealthy(self) -> str:
        """The health error of a failed probe: a fixed sentence, never the driver's text."""
        return f"{self.product} connection failed"

    # the pool -------------------------------------------------------------------------
    @abstractmethod
    async def open_pool(self, credentials: Credentials) -> PoolT:
        """Open the pool (raise on failure: the opener retries), bounded in time."""

    async def prepare(self, pool: PoolT) -> None:
        """Make sure the records table exists, bounded in time; the kit closes the pool
        when this raises."""

    @abstractmethod
    async def close_pool(self, pool: PoolT, timeout: float) -> None:
        """Close gracefully within ``timeout``, else drop the connections."""

    def discard_pool(self, pool: PoolT) -> None:
        """Drop a pool at once (``discards``): one opened after shutdown began."""
        raise NotImplementedError

    def open_wait(self) -> float:
        """Seconds a call waits for a pool still opening, inside the guard (0: a 503 at once)."""
        return 0.0

    def pool_size(self, pool: PoolT) -> int:
        """Connections open in the pool (``measures_pool``)."""
        return 0

    # the statements -------------------------------------------------------------------
    @abstractmethod
    async def query(self, pool: PoolT) -> dict[str, Any]:
        """The body of ``GET …/query`` beside ``database``."""

    @abstractmethod
    async def insert(self, pool: PoolT, key: str, value: Any) -> Record:
        """Store one record and return it as stored."""

    @abstractmethod
    async def page(self, pool: PoolT, limit: int, offset: int, count: bool) -> Page:
        """Records newest first (see :class:`Page`); the total too when ``count``."""

    @abstractmethod
    async def version(self, pool: PoolT) -> str:
        """The server's version, asked through the pool (the health probe)."""

    def check_value(self, value: Any) -> None:
        """Raise ``invalid(["body", "value"], …)`` for a value the store cannot hold."""
