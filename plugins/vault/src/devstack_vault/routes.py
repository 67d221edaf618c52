"""The plugin's HTTP endpoints under /examples/vault (one Blueprint per application)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from quart import Blueprint, Response, jsonify

from devstack.api import MASK, Host, NotFound, invalid, masked, masked_all, sensitive_name, validated
from devstack.errors import ApiError
from devstack_vault.service import Undecryptable, VaultService

SECRET_NOTE = "Credentials (passwords, tokens, secrets, keys, URL passwords) are masked"
CACHE_PREFIX = "vault:response:"


def secret_cache_key(service_name: str) -> str:
    return f"{CACHE_PREFIX}secret:{service_name}"


def key_cache_prefix(service_name: str) -> str:
    return f"{CACHE_PREFIX}key:{service_name}:"


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


def secret_not_found(service_name: str) -> NotFound:
    return NotFound(f"Secret '{service_name}' not found")


def build_blueprint(host: Host, service: VaultService) -> Blueprint:
    blueprint = Blueprint("vault", __name__)
    settings = service.settings

    def is_protected(name: str) -> bool:
        """A secret devstack itself reads (host.protected_secrets) or VAULT_PROTECTED_SECRETS names."""
        return name in host.protected_secrets() or name in settings.protected_secrets

    @blueprint.get("/examples/vault/secret/<service_name>")
    async def read_secret(service_name: str) -> Response:
        name = validated().path["service_name"]

        async def produce() -> dict[str, Any]:
            data = await service.read_secret(name)
            if data is None:
                raise secret_not_found(name)
            return {"service": name, "data": shown(data, is_protected(name)), "note": SECRET_NOTE}

        body, age = await host.cached_json(secret_cache_key(name), settings.response_cache_ttl, produce)
        if is_protected(name):  # it may have become protected after the answer was cached
            body = {**body, "data": masked_all(body["data"])}
        return cached_response(body, age)

    @blueprint.get("/examples/vault/secret/<service_name>/<key>")
    async def read_secret_key(service_name: str, key: str) -> Response:
        path = validated().path
        name, wanted = path["service_name"], path["key"]

        async def produce() -> dict[str, Any]:
            data = await service.read_secret(name)
            if data is None:
                raise secret_not_found(name)
            if wanted not in data:
                raise NotFound(f"Key '{wanted}' not found in secret '{name}'")
            hidden = is_protected(name) or sensitive_name(wanted)
            value = MASK if hidden else as_text(masked(data[wanted]))
            return {"service": name, "key": wanted, "value": value, "note": SECRET_NOTE}

        cache_key = key_cache_prefix(name) + wanted
        body, age = await host.cached_json(cache_key, settings.response_cache_ttl, produce)
        if is_protected(name):
            body = {**body, "value": MASK}
        return cached_response(body, age)

    @blueprint.post("/examples/vault/secret/<service_name>")
    async def write_secret(service_name: str) -> Response:
        request = validated()
        name = request.path["service_name"]
        if is_protected(name):
            raise Forbidden(f"Secret '{name}' holds credentials devstack reads and cannot be written through the API")
        version = await service.write_secret(name, dict(request.body))
        await host.invalidate(secret_cache_key(name), prefix=key_cache_prefix(name))
        return jsonify({"service": name, "version": version})

    @blueprint.get("/examples/vault/secret/<service_name>/versions/<version>")
    async def read_secret_version(service_name: str, version: str) -> Response:
        path = validated().path
        name, number = path["service_name"], path["version"]
        found = await service.read_version(name, number)
        if found is None:
            raise NotFound(f"Version {number} of secret '{name}' not found")
        return jsonify(
            {
                "service": name,
                "version": found.version,
                "data": shown(found.data, is_protected(name)),
                "created_time": found.created_time,
            }
        )

    @blueprint.post("/examples/vault/transit/encrypt")
    async def transit_encrypt() -> Response:
        plaintext = validated().body["plaintext"]
        return jsonify({"ciphertext": await service.encrypt(plaintext)})

    @blueprint.post("/examples/vault/transit/decrypt")
    async def transit_decrypt() -> Response:
        ciphertext = validated().body["ciphertext"]
        try:
            plaintext = await service.decrypt(ciphertext)
        except Undecryptable:
            raise invalid(["body", "ciphertext"], "The ciphertext cannot be decrypted with this key") from None
        return jsonify({"plaintext": plaintext})

    return blueprint
