"""A minimal client of the Vault HTTP API (OpenBao answers it): one request, JSON in and out."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from devstack_services.common import Failure, Http, http


@dataclass(frozen=True)
class Vault:
    """The server at ``addr``, with ``token`` ("" = no token header, as for a login)."""

    addr: str
    token: str

    def with_token(self, token: str) -> Vault:
        return Vault(self.addr, token)

    def request(self, method: str, path: str, data: dict[str, Any] | None = None) -> Http:
        headers = {"X-Vault-Token": self.token} if self.token else {}
        body = None
        if data is not None:
            headers["Content-Type"] = "application/json"
            body = json.dumps(data).encode()
        return http(method, f"{self.addr}/v1/{path}", data=body, headers=headers, timeout=30)

    def check(self, method: str, path: str, data: dict[str, Any] | None = None) -> Http:
        """A request that must answer 2xx (else Failure: what, where, the server's errors)."""
        answer = self.request(method, path, data)
        if not 200 <= answer.code < 300:
            raise Failure(
                f"vault: {method} /v1/{path} on {self.addr} -> HTTP {answer.code:03d} {errors_of(answer.body)}"
            )
        return answer

    def must(self, method: str, path: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        """``check``, then its JSON body ({} when empty)."""
        return as_json(self.check(method, path, data).body)


def as_json(body: str) -> dict[str, Any]:
    try:
        loaded = json.loads(body) if body.strip() else {}
    except ValueError:
        return {}
    return loaded if isinstance(loaded, dict) else {}


def errors_of(body: str) -> str:
    """The ``errors`` of an error answer (the server's own words, never a secret), compact."""
    loaded = as_json(body)
    if "errors" in loaded:
        return json.dumps(loaded["errors"], separators=(",", ":"))
    return json.dumps(loaded, separators=(",", ":")) if loaded else body.strip()[:200]


def mount_type(mounts: dict[str, Any], name: str) -> str:
    """The type of mount ``name`` ("secret/") in a sys/mounts or sys/auth answer ("" if none)."""
    entry = mounts.get("data", {}).get(name)
    return str(entry.get("type") or "") if isinstance(entry, dict) else ""
