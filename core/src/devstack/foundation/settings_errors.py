"""Invalid settings, said as a person can fix them: the variable, the value it had, the rule.

``POSTGRES_PORT='abc': Input should be a valid integer, ...``. The value is the text of
the environment variable when it is set there (what the person wrote), masked by
devstack's policy: ``'***'`` for a secret field (``SecretStr`` or a sensitive name),
the password of a URL hidden otherwise.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, get_args

from pydantic import AliasChoices, SecretBytes, SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

from devstack.foundation.masking import MASK, mask_text, masked, sensitive_name


def env_name(model: type[BaseSettings], field: str) -> str:
    prefix = str(model.model_config.get("env_prefix", ""))
    return f"{prefix}{field}".upper()


def field_and_env(model: type[BaseSettings], located: str) -> tuple[str, str]:
    """The field an error is about and the variable it was read from. A field with
    ``AliasChoices`` (an old name kept working) is located by its first alias and may
    have been set under another: the one set is named."""
    for name, info in model.model_fields.items():
        alias = info.validation_alias
        if isinstance(alias, AliasChoices) and located in alias.choices:
            names = [str(choice).upper() for choice in alias.choices if isinstance(choice, str)]
            return name, next((env for env in names if env in os.environ), names[0])
    return located, env_name(model, located)


def holds_secret_type(annotation: Any) -> bool:
    """Whether a type is, or is built from, ``SecretStr`` / ``SecretBytes``."""
    if annotation in (SecretStr, SecretBytes):
        return True
    return any(holds_secret_type(argument) for argument in get_args(annotation))


def secret_field(name: str, info: FieldInfo | None) -> bool:
    """Whether a field holds a credential: a secret type or a sensitive name."""
    return sensitive_name(name) or (info is not None and holds_secret_type(info.annotation))


def shown_value(value: Any, secret: bool) -> str:
    """``value`` as an error line shows it: masked by the policy, always quoted."""
    if secret:
        return repr(MASK)
    return repr(mask_text(value) if isinstance(value, str) else masked(value))


def invalid_settings(
    model: type[BaseSettings], error: ValidationError, where: Callable[[str], str | None] | None = None
) -> list[str]:
    """One line per problem: ``ENV_NAME='value': what is wrong`` (item N of a list setting);
    ``where(field)`` adds where the field is defined (``(field port at pkg/settings.py:12)``)."""
    lines = []
    for problem in error.errors(include_url=False):
        location = problem.get("loc") or ()
        field, name = field_and_env(model, str(location[0])) if location else ("", model.__name__)
        secret = secret_field(field, model.model_fields.get(field))
        written = os.environ.get(name)
        given = written if written is not None and len(location) <= 1 else problem.get("input")
        item = f" (item {int(location[1]) + 1})" if len(location) > 1 and isinstance(location[1], int) else ""
        message = str(problem.get("msg", "invalid"))
        if problem.get("type") == "missing":
            lines.append(f"{name}: required, not set{where_defined(field, where)}")
            continue
        if secret and isinstance(given, str) and given:
            message = message.replace(given, MASK)  # a validator may quote what it was given
        located = where_defined(field, where)
        lines.append(f"{name}{item}={shown_value(given, secret)}: {message}{located}")
    return lines


def where_defined(field: str, where: Callable[[str], str | None] | None) -> str:
    location = where(field) if where is not None and field else None
    return f" (field {field} at {location})" if location else ""
