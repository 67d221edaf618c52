"""Checking answers against the application's own ``/openapi.json``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from jsonschema import Draft202012Validator

from devstack.testkit.helpers import json_of


def resolve(node: Any, document: Mapping[str, Any]) -> Any:
    """Follow a local ``$ref`` (``#/components/...``) until a node without one."""
    while isinstance(node, Mapping) and "$ref" in node:
        target: Any = document
        for part in str(node["$ref"]).lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


def template_pattern(template: str) -> re.Pattern[str]:
    """A regex matching the concrete paths of an OpenAPI path template."""
    parts = re.split(r"(\{[^}]+\})", template)
    return re.compile("^" + "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts) + "$")


class Contract:
    """The served contract, and assertions that an answer matches its operation.

    ``Contract.of(client)`` reads ``/openapi.json``; ``check(method, path, status, body)``
    asserts that the operation (``path`` is the template, or a concrete path) documents
    ``status`` and that ``body`` matches the documented JSON schema.
    """

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.document = document

    @classmethod
    async def of(cls, client: Any) -> Contract:
        response = await client.get("/openapi.json")
        assert response.status_code == 200, f"GET /openapi.json answered {response.status_code}"
        return cls(await json_of(response))

    def template_of(self, path: str) -> str:
        """The path template describing ``path`` (itself when it is a template)."""
        paths = self.document.get("paths", {})
        if path in paths:
            return path
        for template in paths:
            if template_pattern(template).match(path):
                return str(template)
        raise AssertionError(f"{path} is not described by any path of the contract")

    def operation(self, method: str, path: str) -> dict[str, Any]:
        template = self.template_of(path)
        operation = self.document["paths"][template].get(method.lower())
        assert operation is not None, f"{method.upper()} {template} is not an operation of the contract"
        return dict(operation)

    def validator(self, schema: Mapping[str, Any]) -> Draft202012Validator:
        # components are put beside the schema so that its "#/components/..." refs resolve
        return Draft202012Validator({**schema, "components": self.document.get("components", {})})

    def errors(self, method: str, path: str, status: int, body: Any) -> list[str]:
        """What is wrong with this answer (empty: it matches the contract)."""
        operation = self.operation(method, path)
        responses = operation.get("responses", {})
        documented = responses.get(str(status)) or responses.get(f"{str(status)[0]}XX") or responses.get("default")
        if documented is None:
            return [f"status {status} is not documented (documented: {sorted(responses)})"]
        content = resolve(documented, self.document).get("content", {})
        media = content.get("application/json")
        if media is None or "schema" not in media:
            return []  # no JSON body is documented: nothing to validate
        return [
            f"{'/'.join(map(str, error.absolute_path)) or '<body>'}: {error.message}"
            for error in self.validator(media["schema"]).iter_errors(body)
        ]

    def check(self, method: str, path: str, status: int, body: Any) -> None:
        errors = self.errors(method, path, status, body)
        assert not errors, f"{method.upper()} {path} {status}: {errors}"

    async def check_response(self, method: str, path: str, response: Any) -> Any:
        """``check`` on a Quart test or httpx response; returns its JSON body."""
        body = await json_of(response)
        self.check(method, path, response.status_code, body)
        return body
