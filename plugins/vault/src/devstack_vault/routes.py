"""The plugin's HTTP endpoints under /examples/vault (one Blueprint per application)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from quart import Blueprint, Response, jsonify

from devstack.api import (
    MASK,
    ApiError,
    Host,
    NotFound,
    fingerprint,
    invalid,
    masked,
    masked_all,
    sensitive_name,
    validated,
)
from devstack_vault.service import SERVICE, Undecryptable, VaultService
from devstack_vault.settings import VaultSettings

SECRET_NOTE = "Credentials (passwords, tokens, secrets, keys, URL passwords) are masked"
MASKING_VERSION = 2  # in the cache keys: answers cached under an older masking policy are not served

# Cached reads live in the shared cache under the plugin's namespace ("vault:") as
# response:<secret>:secret:<store> and response:<secret>:key:<key>:<store>. <store> says
# which KV store answered (Vault address and mount) under which masking policy, so that
# instances pointed at another Vault never serve these reads; it comes last, so that a
# write drops every cached read of the secret, whichever instance and store cached it,
# with one prefix.


def store_of(settings: VaultSettings) -> str:
    return fingerprint({"addr": settings.addr.rstrip("/"), "kv_mount": settings.kv_mount, "masking": MASKING_VERSION})


def secret_cache_prefix(service_name: str) -> str:
    return f"response:{service_name}:"


def secret_cache_key(service_name: str, store: str) -> str:
    return f"{secret_cache_prefix(service_name)}secret:{store}"


def key_cache_key(service_name: str, key: str, store: str) -> str:
    return f"{secret_cache_prefix(service_name)}key:{key}:{store}"


class Forbidden(ApiError):
    status_code = 403
    error = "ForbiddenError"


def as_text(value: Any) -> str:
    """A secret value as text (KV v2 may hold any JSON value; devstack writes strings)."""
    return value if isinstance(value, str) else json.dumps(value)


def shown(data: Mapping[str, Any], hide_all: bool) -> dict[str, Any]:
    """A secret's data as answered: every value hidden for a protected secret, else the
    credentials in it (by name, at any depth, URL passwords) masked."""
    result: dict[str, Any] = masked_all(data) if hide_all else masked(data)
    return result


def cached_response(body: Any, age: float | None) -> Response:
    response = jsonify(body)
    response.headers["X-Cache"] = "MISS" if age is None else "HIT"
    response.headers["Age"] = "0" if age is None else str(int(age))
    return response


def secret_not_found(service_name: str, key: str | None = None) -> NotFound:
    """404 for a missing secret, with the reference's details (``key``: the key asked for)."""
    details = {"resource_type": "secret", "resource_id": service_name, "secret_path": service_name, "key": key}
    return NotFound(f"Secret '{service_name}' not found", details=details)


def key_not_found(service_name: str, key: str) -> NotFound:
    details = {
        "resource_type": "secret_key",
        "resource_id": f"{service_name}/{key}",
        "secret_path": service_name,
        "key": key,
    }
    return NotFound(f"Key '{key}' not found in secret '{service_name}'", details=details)


class VaultRoutes:
    """The handlers of one application, on its Vault service and its shared cache."""

    def __init__(self, host: Host, service: VaultService) -> None:
        self.host = host
        self.service = service
        self.settings = service.settings
        self.cache = host.cache_for(SERVICE)
        self.store = store_of(service.settings)

    def is_protected(self, name: str) -> bool:
        """A secret devstack itself reads (host.protected_secrets) or VAULT_PROTECTED_SECRETS names."""
        return name in self.host.protected_secrets() or name in self.settings.protected_secrets

    async def read_secret(self, service_name: str) -> Response:
        name = validated().path["service_name"]

        async def produce() -> dict[str, Any]:
            data = await self.service.read_secret(name)
            if data is None:
                raise secret_not_found(name)
            return {"service": name, "data": shown(data, self.is_protected(name)), "note": SECRET_NOTE}

        cache_key = secret_cache_key(name, self.store)
        body, age = await self.cache.cached_json(cache_key, self.settings.response_cache_ttl, produce)
        if self.is_protected(name):  # it may have become protected after the answer was cached
            body = {**body, "data": masked_all(body["data"])}
        return cached_response(body, age)

    async def read_secret_key(self, service_name: str, key: str) -> Response:
        path = validated().path
        name, wanted = path["service_name"], path["key"]

        async def produce() -> dict[str, Any]:
            data = await self.service.read_secret(name)
            if data is None:
                raise secret_not_found(name, wanted)
            if wanted not in data:
                raise key_not_found(name, wanted)
            hidden = self.is_protected(name) or sensitive_name(wanted)
            value = MASK if hidden else as_text(masked(data[wanted]))
            return {"service": name, "key": wanted, "value": value, "note": SECRET_NOTE}

        cache_key = key_cache_key(name, wanted, self.store)
        body, age = await self.cache.cached_json(cache_key, self.settings.response_cache_ttl, produce)
        if self.is_protected(name):
            body = {**body, "value": MASK}
        return cached_response(body, age)

    async def write_secret(self, service_name: str) -> Response:
        request = validated()
        name = request.path["service_name"]
        if self.is_protected(name):
            raise Forbidden(f"Secret '{name}' holds credentials devstack reads and cannot be written through the API")
        version = await self.service.write_secret(name, dict(request.body))
        await self.cache.invalidate(prefix=secret_cache_prefix(name))
        return jsonify({"service": name, "version": version})

    async def read_secret_version(self, service_name: str, version: str) -> Response:
        path = validated().path
        name, number = path["service_name"], path["version"]
        found = await self.service.read_version(name, number)
        if found is None:
            raise NotFound(f"Version {number} of secret '{name}' not found")
        return jsonify(
            {
                "service": name,
                "version": found.version,
                "data": shown(found.data, self.is_protected(name)),
                "created_time": found.created_time,
            }
        )

    async def transit_encrypt(self) -> Response:
        plaintext = validated().body["plaintext"]
        return jsonify({"ciphertext": await self.service.encrypt(plaintext)})

    async def transit_decrypt(self) -> Response:
        ciphertext = validated().body["ciphertext"]
        try:
            plaintext = await self.service.decrypt(ciphertext)
        except Undecryptable:
            raise invalid(
                ["body", "ciphertext"], "The ciphertext cannot be decrypted with this key", value=ciphertext
            ) from None
        return jsonify({"plaintext": plaintext})


def build_blueprint(host: Host, service: VaultService) -> Blueprint:
    """KV v2 reads (cached in the shared cache) and writes, versions, transit encrypt/decrypt.

    Every constraint on the inputs is in contract.yaml; handlers read the validated values.
    """
    blueprint = Blueprint("vault", __name__)
    routes = VaultRoutes(host, service)
    secret = "/examples/vault/secret/<service_name>"
    blueprint.add_url_rule(secret, view_func=routes.read_secret, methods=["GET"])
    blueprint.add_url_rule(f"{secret}/<key>", view_func=routes.read_secret_key, methods=["GET"])
    blueprint.add_url_rule(secret, view_func=routes.write_secret, methods=["POST"])
    blueprint.add_url_rule(f"{secret}/versions/<version>", view_func=routes.read_secret_version, methods=["GET"])
    blueprint.add_url_rule("/examples/vault/transit/encrypt", view_func=routes.transit_encrypt, methods=["POST"])
    blueprint.add_url_rule("/examples/vault/transit/decrypt", view_func=routes.transit_decrypt, methods=["POST"])
    return blueprint
