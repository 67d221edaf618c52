"""A real secrets provider for plugin tests: reads Vault/OpenBao KV v2.

The plugin under test gets its credentials through core's ``devstack_secrets`` hook,
exactly as it would from the vault plugin, without depending on that plugin. It speaks
Vault's HTTP API with the standard library (in a thread), so no client library is needed.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping

from devstack import hookimpl
from devstack.foundation.errors import ServiceUnavailable


class VaultSecrets:
    """Answers ``host.secrets(service)`` from ``<mount>/data/<prefix><service>``.

    ``asked`` and ``answers`` record every call, so a test can assert what the plugin
    asked for and what it got. Put a value with ``write`` (needs a token allowed to).
    """

    def __init__(
        self, addr: str, token: str, mount: str = "secret", prefix: str = "", ca_cert: str | None = None
    ) -> None:
        self.addr = addr.rstrip("/")
        self.token = token
        self.mount = mount
        self.prefix = prefix
        self.context = ssl.create_default_context(cafile=ca_cert) if ca_cert else None
        self.asked: list[str] = []
        self.answers: list[dict[str, str] | None] = []

    @hookimpl
    async def devstack_secrets(self, service: str, host: object) -> Mapping[str, str] | None:
        self.asked.append(service)
        answer = await asyncio.to_thread(self.read, self.prefix + service)
        self.answers.append(answer)
        return answer

    def _call(self, method: str, path: str, body: object = None, kind: str = "data") -> dict[str, object] | None:
        url = f"{self.addr}/v1/{self.mount}/{kind}/{urllib.parse.quote(path)}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method, headers={"X-Vault-Token": self.token})
        try:
            with urllib.request.urlopen(request, timeout=3, context=self.context) as answer:
                return dict(json.loads(answer.read() or b"{}"))
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise ServiceUnavailable("vault") from None
        except OSError:
            raise ServiceUnavailable("vault") from None

    def read(self, path: str) -> dict[str, str] | None:
        """The secret's latest version (None when there is none)."""
        answer = self._call("GET", path)
        if answer is None:
            return None
        data = answer.get("data")
        values = data.get("data") if isinstance(data, dict) else None
        if not isinstance(values, dict):
            return None
        return {str(k): str(v) for k, v in values.items()}

    def write(self, path: str, values: Mapping[str, str]) -> None:
        """Write a new version of ``<prefix><path>``."""
        self._call("POST", self.prefix + path, {"data": dict(values)})

    def delete(self, path: str) -> None:
        """Delete every version of ``<prefix><path>`` (test clean-up)."""
        self._call("DELETE", self.prefix + path, kind="metadata")
