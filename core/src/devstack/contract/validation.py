"""Request validation from the merged contract.

Every constraint on a path parameter, query parameter or JSON body is written once, in
the OpenAPI fragment; this module compiles each operation's schemas into JSON Schema
(2020-12) validators at startup and checks every request against them before the
handler runs. Written by hand because openapi-core, the library that does this, has no
Quart integration and validates far slower than precompiled validators.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft202012Validator, ValidationError, validators
from referencing import Registry

from devstack.contract.inputs import ValidatedRequest
from devstack.contract.nesting import nests_deeper_than, too_deep
from devstack.contract.schemas import coerce, contract_registry, finite_float, reject_constant, resolve_refs
from devstack.contract.validation_items import NO_INPUT, from_schema_error
from devstack.foundation.errors import (
    ApiError,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
    error_for_status,
)

# a \uD800-\uDFFF escape: only a valid JSON text when it is half of a surrogate pair
LONE_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
DEFAULT_MAX_DEPTH = 64  # DEVSTACK_MAX_BODY_DEPTH's default


def strict_pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Any:
    """``pattern`` where a trailing ``$`` means end of string (Python's ``$`` also
    matches before a final newline, which would let ``"key\\n"`` through)."""
    if not isinstance(instance, str):
        return
    anchored = pattern[:-1] + r"\Z" if pattern.endswith("$") and not pattern.endswith("\\$") else pattern
    if re.search(anchored, instance) is None:
        yield ValidationError(f"{instance[:50]!r} does not match {pattern!r}")


SchemaValidator = validators.extend(Draft202012Validator, {"pattern": strict_pattern})


ERROR_STATUS = "x-error-status"
ERROR_MESSAGE = "x-error-message"


def own_answer(errors: list[ValidationError]) -> ApiError | None:
    """The answer a contract gives to the failure of one rule, when it names one.

    A (sub)schema with ``x-error-status`` (and ``x-error-message``) states that breaking
    it is answered with that status instead of 422, for the rules the reference API
    answers so (an empty message: 400). It applies only when every error of the request
    comes from such a subschema, all with the same answer.
    """
    answers = {
        (error.schema.get(ERROR_STATUS), error.schema.get(ERROR_MESSAGE)) if isinstance(error.schema, dict) else None
        for error in errors
    }
    if len(answers) != 1:
        return None
    answer = answers.pop()
    if answer is None or answer[0] is None:
        return None
    return error_for_status(int(answer[0]), answer[1])


def deepest(error: ValidationError) -> ValidationError:
    """For an ``anyOf``/``oneOf`` failure, the branch error that says what is wrong (the
    NUL inside ``value.x[1]`` rather than "not valid under any of the given schemas")."""
    if not error.context:
        return error
    branches = [e for e in error.context if e.validator != "type"] or list(error.context)
    return deepest(max(branches, key=lambda e: len(e.absolute_path)))


def not_json() -> ValidationFailed:
    return ValidationFailed([{"loc": ["body"], "msg": "Body is not valid JSON", "type": "json_invalid"}])


PASSED_CACHE_SIZE = 1024
MAX_CACHED_RAW = 256


@dataclass
class Parameter:
    name: str
    location: str
    required: bool
    schema: dict[str, Any]
    validator: Any
    # raw texts already found valid, with their converted values (immutable: str, int,
    # float, bool): the schema never changes, so the same text passes again; a hot key
    # or id skips jsonschema's checks, the slowest part of a request's validation
    passed: dict[str, Any] = field(default_factory=dict)

    def remember(self, raw: str, value: Any) -> None:
        if len(raw) <= MAX_CACHED_RAW:
            if len(self.passed) >= PASSED_CACHE_SIZE:
                self.passed.clear()
            self.passed[raw] = value


@dataclass
class OperationValidator:
    """The compiled checks of one operation."""

    parameters: list[Parameter] = field(default_factory=list)
    body_validator: Any | None = None
    body_required: bool = False
    body_media_types: tuple[str, ...] = ()
    max_body_bytes: int | None = None

    def errors_for(self, validator: Any, value: Any, loc: list[str | int]) -> list[dict[str, Any]]:
        return self.described(sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path)), loc)

    @staticmethod
    def described(errors: list[ValidationError], loc: list[str | int], sent: Any = NO_INPUT) -> list[dict[str, Any]]:
        return [from_schema_error(error, loc + list(error.absolute_path), sent) for error in map(deepest, errors)]

    def check_parameters(self, view_args: Mapping[str, Any], query: Any) -> ValidatedRequest:
        result = ValidatedRequest()
        errors: list[dict[str, Any]] = []
        raw_errors: list[ValidationError] = []
        for param in self.parameters:
            if param.location == "path":
                raw = view_args.get(param.name)
                target = result.path
            elif param.location == "query":
                raw = query.get(param.name)
                target = result.query
            else:
                continue
            if raw is None:
                if param.required:
                    errors.append({"loc": [param.location, param.name], "msg": "Field required", "type": "missing"})
                elif "default" in param.schema:
                    target[param.name] = param.schema["default"]
                continue
            text = str(raw)
            if text in param.passed:
                target[param.name] = param.passed[text]
                continue
            value = coerce(text, param.schema)
            failed = sorted(param.validator.iter_errors(value), key=lambda e: list(e.absolute_path))
            raw_errors.extend(failed)
            errors.extend(self.described(failed, [param.location, param.name], text))
            if not failed:
                target[param.name] = value
                param.remember(text, value)
        if errors:
            answer = own_answer(raw_errors) if len(raw_errors) == len(errors) else None
            raise answer or ValidationFailed(errors)
        return result

    def check_body(self, raw: bytes, content_type: str, max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
        if self.max_body_bytes is not None and len(raw) > self.max_body_bytes:
            raise PayloadTooLarge(f"Request body exceeds {self.max_body_bytes} bytes")
        if not raw:
            if self.body_required:
                raise ValidationFailed([{"loc": ["body"], "msg": "Request body required", "type": "missing"}])
            return None
        if self.body_media_types and not any(content_type.startswith(m) for m in self.body_media_types):
            raise UnsupportedMediaType(f"Content type must be one of: {', '.join(self.body_media_types)}")
        try:
            body = json.loads(raw, parse_constant=reject_constant, parse_float=finite_float)
        except RecursionError:
            raise too_deep(max_depth) from None
        except ValueError:
            raise not_json() from None
        if nests_deeper_than(raw, max_depth):
            raise too_deep(max_depth)
        if LONE_SURROGATE_ESCAPE.search(raw):
            try:  # "\ud800" parses, but into a string no UTF-8 encoder (driver, broker) takes
                json.dumps(body, ensure_ascii=False).encode("utf-8")
            except ValueError:
                raise not_json() from None
        if self.body_validator is not None:
            try:
                failed = sorted(self.body_validator.iter_errors(body), key=lambda e: list(e.absolute_path))
            except RecursionError:
                raise ValidationFailed(
                    [{"loc": ["body"], "msg": "Body nests too deep", "type": "json_invalid"}]
                ) from None
            if failed:
                raise own_answer(failed) or ValidationFailed(self.described(failed, ["body"]))
        return body


def compile_operation(
    document: Mapping[str, Any],
    path_item: Mapping[str, Any],
    operation: Mapping[str, Any],
    registry: Registry[Any] | None = None,
) -> OperationValidator:
    compiled = OperationValidator()
    registry = registry if registry is not None else contract_registry(document)
    params = {(p["name"], p["in"]): p for p in resolve_refs(path_item.get("parameters", []), document)}
    params.update({(p["name"], p["in"]): p for p in resolve_refs(operation.get("parameters", []), document)})
    for (name, location), param in params.items():
        schema = param.get("schema", {})
        compiled.parameters.append(
            Parameter(
                name,
                location,
                bool(param.get("required", location == "path")),
                schema,
                SchemaValidator(schema, registry=registry),
            )
        )
    body = resolve_refs(operation.get("requestBody"), document)
    if body:
        content = body.get("content", {})
        compiled.body_required = bool(body.get("required", False))
        compiled.body_media_types = tuple(content)
        json_schema = content.get("application/json", {}).get("schema")
        if json_schema is not None:
            compiled.body_validator = SchemaValidator(json_schema, registry=registry)
    limit = operation.get("x-max-body-bytes")
    compiled.max_body_bytes = int(limit) if limit is not None else None
    return compiled


def compile_contract(document: Mapping[str, Any]) -> dict[tuple[str, str], OperationValidator]:
    """``{(METHOD, openapi path): validator}`` for every operation of the document."""
    table: dict[tuple[str, str], OperationValidator] = {}
    registry = contract_registry(document)
    for path, item in (document.get("paths") or {}).items():
        for method, operation in item.items():
            if isinstance(operation, dict) and method not in ("parameters", "summary", "description", "servers"):
                table[(method.upper(), path)] = compile_operation(document, item, operation, registry)
    return table
