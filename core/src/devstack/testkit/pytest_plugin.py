"""devstack's pytest plugin (entry point ``pytest11: devstack``): fixtures for plugin tests.

Loaded by pytest in every environment where devstack-core is installed. Choose the app in
a conftest by overriding ``devstack_plugins``, ``devstack_env`` and
``devstack_core_settings``, or per test with ``@pytest.mark.devstack(...)``; then ask for
``devstack_app``/``devstack_client`` (in-process, Quart's test client), ``devstack_server``
(a real ``devstack serve`` process) or ``devstack_contract``. The async fixtures are
pytest-asyncio fixtures: set ``asyncio_mode = "auto"`` (as devstack's own tests do); in
strict mode mark the tests ``@pytest.mark.asyncio``. ``--devstack-conformance=NAME`` runs
the conformance suite against installed plugin NAME (see ``devstack.conformance``).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any

import pytest
from quart import Quart
from quart.typing import TestClientProtocol

from devstack.conformance.session import OPTION, add_option, configure_conformance
from devstack.testing import ServerProcess
from devstack.testkit.app import AppSpec, PluginChoice, app_for, server_for
from devstack.testkit.contract import Contract
from devstack.testkit.helpers import closed_port, require_env
from devstack.testkit.secrets import VaultSecrets

try:  # the async fixtures need pytest-asyncio (a dependency of every plugin's tests)
    import pytest_asyncio

    async_fixture: Callable[..., Any] = pytest_asyncio.fixture
except ImportError:  # pragma: no cover - without it only the sync fixtures work
    async_fixture = pytest.fixture


def pytest_addoption(parser: pytest.Parser) -> None:
    add_option(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "devstack(plugins=None, env=None, **core_settings): the app this test's devstack fixtures build"
    )
    name = config.getoption(OPTION, default=None)
    if name:
        configure_conformance(config, name)


@pytest.fixture
def devstack_plugins() -> PluginChoice:
    """The plugins of the app: None (every installed one), names of installed plugins, or
    a mapping name -> module/object. Override it in a conftest."""
    return None


@pytest.fixture
def devstack_env() -> dict[str, str | None]:
    """Environment variables set while the app is built and served (None removes one)."""
    return {}


@pytest.fixture
def devstack_core_settings() -> dict[str, Any]:
    """Keyword arguments of core's settings (``CoreSettings``), e.g. ``rate_limit_enabled``."""
    return {}


@pytest.fixture
def devstack_spec(
    request: pytest.FixtureRequest,
    devstack_plugins: PluginChoice,
    devstack_env: Mapping[str, str | None],
    devstack_core_settings: Mapping[str, Any],
) -> AppSpec:
    """The app this test runs: the three fixtures above, with the test's
    ``@pytest.mark.devstack(plugins=..., env=..., **core_settings)`` on top."""
    spec = AppSpec(plugins=devstack_plugins, env=dict(devstack_env), core_settings=dict(devstack_core_settings))
    for marker in reversed(list(request.node.iter_markers("devstack"))):  # closest marker last, so it wins
        kwargs = dict(marker.kwargs)
        spec = spec.merged(kwargs.pop("plugins", None), kwargs.pop("env", None) or {}, kwargs)
    return spec


@async_fixture
async def devstack_app(devstack_spec: AppSpec) -> AsyncIterator[tuple[Quart, TestClientProtocol]]:
    """A started application (startup hooks run; shutdown hooks after the test) and its
    Quart test client."""
    async with app_for(devstack_spec) as pair:
        yield pair


@pytest.fixture
def devstack_client(devstack_app: tuple[Quart, TestClientProtocol]) -> TestClientProtocol:
    """The Quart test client of ``devstack_app``."""
    return devstack_app[1]


@async_fixture
async def devstack_contract(devstack_client: TestClientProtocol) -> Contract:
    """The served ``/openapi.json`` with ``check(method, path, status, body)``."""
    return await Contract.of(devstack_client)


@pytest.fixture
def devstack_server(devstack_spec: AppSpec) -> Iterator[ServerProcess]:
    """A real ``devstack serve`` (Hypercorn) on a free port, started and then stopped;
    ``.url`` is its base URL. Plugins must be given as installed names."""
    with server_for(devstack_spec) as server:
        yield server


@pytest.fixture
def devstack_closed_port() -> int:
    """A local port that refuses connections (a backend that is down)."""
    return closed_port()


@pytest.fixture(scope="session")
def vault_secrets_settings() -> dict[str, str]:
    """VAULT_ADDR and VAULT_TOKEN (fails the test when unset; .run/devstack.env sets them)."""
    return require_env("VAULT_ADDR", "VAULT_TOKEN")


@pytest.fixture
def vault_secrets(vault_secrets_settings: Mapping[str, str]) -> VaultSecrets:
    """A ``devstack_secrets`` provider reading the shared Vault/OpenBao KV v2 mount
    ``secret``: give it to the app as a plugin (``{"secrets": vault_secrets}``)."""
    settings = vault_secrets_settings
    return VaultSecrets(settings["VAULT_ADDR"], settings["VAULT_TOKEN"], ca_cert=os.environ.get("VAULT_CA_CERT"))
