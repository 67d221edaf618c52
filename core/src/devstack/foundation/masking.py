"""devstack's one masking policy: what log lines, secret reads and ``devstack settings`` hide.

- A *name* is sensitive when it holds ``password``, ``passwd``, ``passphrase``, ``pwd``,
  ``token``, ``authorization`` or ``cookie`` (anywhere, any case, any spelling such as
  ``DB_Password`` or ``refreshToken``), or it is about a secret, a credential or a key
  (``secret``, ``secret_id``, ``credentials``, ``api_key``, ``X-API-Key``,
  ``private_key``, ``access_key``, the words ``pass`` and ``keys``) unless its last word
  says the value only points at one (``secrets_service``, ``api_keys_refresh``,
  ``secret_path``, ``key_file``, ...: see ``POINTERS``).
- :func:`masked` copies a value with every value under a sensitive name replaced by
  ``"***"``, at any depth of mappings and lists (and in ``(name, value)`` pairs such as
  header lists), and with the sensitive parts of every string masked (:func:`mask_text`):
  the password of a ``scheme://user:password@host`` URL and ``name=value`` /
  ``name: value`` pairs whose name is sensitive. Deeper than ``MAX_DEPTH`` everything
  is masked.
- :func:`masked_all` hides every value (the secrets devstack itself reads).

The reference masked keys containing "password" (and "token" in one-key reads) as
``"***"``; this policy masks those and more, with the same ``"***"``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from pydantic import SecretBytes, SecretStr

MASK = "***"
MAX_DEPTH = 16

# always sensitive, whatever the rest of the name says
CREDENTIAL_WORDS = re.compile(r"pass(?:word|wd|phrase)|pwd|token|authori[sz]ation|cookie")
# sensitive unless the last word says the value only points at the secret
SECRET_WORDS = re.compile(r"secret|credential|(?:api|private|access|signing|encryption)_?keys?")
WHOLE_WORDS = frozenset({"pass", "keys"})
POINTERS = frozenset(
    {
        "count",
        "dir",
        "enabled",
        "exempt",
        "file",
        "interval",
        "mount",
        "name",
        "names",
        "path",
        "prefix",
        "refresh",
        "service",
        "services",
        "timeout",
        "ttl",
    }
)

CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
SEPARATORS = re.compile(r"[^a-z0-9]+")
# ``name=value``, ``name: value``, ``"name": "value"``; the name decides (sensitive_name)
NAMED_VALUE = re.compile(
    r"(?P<name>[A-Za-z][A-Za-z0-9_.-]*)(?P<sep>[\"']?\s*[:=]\s*[\"']?)"
    r"(?P<value>(?:bearer\s+|basic\s+)?[^\s,;\"'&]+)",
    re.IGNORECASE,
)
URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)(?P<value>[^@\s]+)(?=@)")

TextMasker = Callable[[str], str]


def words_of(name: str) -> list[str]:
    """``"X-API-Key"`` → ``["x", "api", "key"]``; ``"refreshToken"`` → ``["refresh", "token"]``."""
    return [word for word in SEPARATORS.split(CAMEL_BOUNDARY.sub("_", name).lower()) if word]


@lru_cache(maxsize=4096)
def sensitive_name(name: str) -> bool:
    """Whether a value named ``name`` is a credential (see the module's docstring)."""
    words = words_of(name)
    joined = "_".join(words)
    if CREDENTIAL_WORDS.search(joined):
        return True
    if SECRET_WORDS.search(joined) is None and WHOLE_WORDS.isdisjoint(words):
        return False
    return words[-1] not in POINTERS


def mask_text(text: str) -> str:
    """``text`` with URL passwords and the values of sensitive ``name=value`` pairs masked."""
    if "=" not in text and ":" not in text:
        return text
    text = URL_PASSWORD.sub(lambda m: f"{m['head']}{MASK}", text)
    parts: list[str] = []
    copied = position = 0
    while (match := NAMED_VALUE.search(text, position)) is not None:
        if sensitive_name(match["name"]):
            parts += [text[copied : match.start("value")], MASK]
            copied = position = match.end()
        else:  # the value may hold a pair itself ("url=h?password=x")
            position = match.start("value")
    parts.append(text[copied:])
    return "".join(parts)


def masked(value: Any, text: TextMasker = mask_text, depth: int = 0) -> Any:
    """A copy of ``value`` with every credential in it masked (see the module's docstring).

    ``text`` masks each string (logs add the values registered as secrets).
    """
    if isinstance(value, str):
        return text(value)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, (SecretStr, SecretBytes)) or depth >= MAX_DEPTH:
        return MASK
    if isinstance(value, Mapping):
        return {
            key: MASK if isinstance(key, str) and sensitive_name(key) else masked(item, text, depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple, set, frozenset)):
        items = list(value)
        if len(items) == 2 and isinstance(items[0], (str, bytes)):  # a (name, value) pair
            name = items[0].decode("latin-1") if isinstance(items[0], bytes) else items[0]
            if sensitive_name(name):
                return [name, MASK]
        return [masked(item, text, depth + 1) for item in items]
    if isinstance(value, bytes):
        return text(value.decode("utf-8", "replace"))
    return text(str(value))


def masked_all(data: Mapping[str, Any]) -> dict[str, str]:
    """``data`` with every value hidden (a secret whose every value is a credential)."""
    return dict.fromkeys(data, MASK)
