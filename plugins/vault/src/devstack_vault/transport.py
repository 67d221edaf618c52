"""The HTTP transport under hvac: the environment is read once, when the client is made.

requests reads the proxy and CA-bundle variables, and looks for ``~/.netrc``, again on
every request while a session trusts the environment. That costs a Vault call about as
much CPU as the rest of requests and urllib3 together (0.55 of 1.4 ms of CPU per ``sys/health``
on the machine of bench/README.md). The same variables are honoured here, read once:

- ``HTTP(S)_PROXY``/``ALL_PROXY`` for Vault's address, unless ``NO_PROXY`` excludes it;
- ``REQUESTS_CA_BUNDLE``, then ``CURL_CA_BUNDLE``, when ``VAULT_CA_CERT`` is not set.

``~/.netrc`` is not: Vault authenticates by the token header, never by basic auth.
"""

from __future__ import annotations

import os

import requests
from requests.utils import get_environ_proxies

CA_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


def session_for(url: str, ca_cert: str | None) -> requests.Session:
    """A session that no longer reads the environment, with the TLS verification and the
    proxies for ``url`` taken from ``VAULT_CA_CERT`` and the process environment as it is now."""
    bundle = next((os.environ[name] for name in CA_BUNDLE_VARIABLES if os.environ.get(name)), None)
    session = requests.Session()
    session.trust_env = False
    session.verify = ca_cert or bundle or True
    session.proxies = dict(get_environ_proxies(url))  # NO_PROXY honoured, as requests does per call
    return session
