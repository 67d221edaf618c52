"""The vault plugin under load: GET /examples/vault/secret/postgres cached and uncached,
next to GET /health/ of the same server in the same run.

Cached: the answer comes from the shared cache (VAULT_RESPONSE_CACHE_TTL=300, the
default). Uncached: VAULT_RESPONSE_CACHE_TTL=0, every request reads KV v2 from OpenBao
(hvac in a worker thread, through the circuit breaker). Target (issue: vault plugin):
cached reads at least 0.8x the req/s of GET /health/.

Needs a Python environment with devstack-core and devstack-vault installed, wrk, and the
services of scripts/services.sh up (OpenBao on 8200 with the AppRole files):

    .venv-vault/bin/python bench/bench_vault.py [--duration 10] [--connections 32]
"""

from __future__ import annotations

import argparse
import json
import urllib.request

from harness import Result, devstack_server, machine, print_table, wrk

SECRET = "/examples/vault/secret/postgres"


def check_answer(url: str) -> None:
    """Fail early (not with a table of 503s) when the server cannot read the secret."""
    with urllib.request.urlopen(url + SECRET, timeout=10) as answer:
        body = json.load(answer)
    if body.get("data", {}).get("password") != "***":
        raise SystemExit(f"unexpected answer from {SECRET}: keys {sorted(body)}")


def run(label: str, env: dict[str, str], args: argparse.Namespace) -> list[Result]:
    """GET /health/ and the secret read on one server, alternated ``args.rounds`` times.

    Alternating keeps the two measurements comparable on a machine whose load drifts.
    """
    server = devstack_server({"DEVSTACK_PLUGINS": "vault", **env})
    results: list[Result] = []
    with server:
        check_answer(server.url)
        for round_no in range(1, args.rounds + 1):
            for name, path in (("GET /health/", "/health/"), (f"GET {SECRET} {label}", SECRET)):
                results.append(
                    wrk(
                        f"{name} #{round_no}",
                        server.url + path,
                        connections=args.connections,
                        duration=args.duration,
                    )
                )
    return results


def ratio(results: list[Result]) -> float:
    """Secret req/s over /health/ req/s, over all rounds."""
    health = sum(r.requests / r.seconds for r in results if "/health/" in r.label)
    secret = sum(r.requests / r.seconds for r in results if SECRET in r.label)
    return secret / health


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    print(
        f"machine: {machine()}; wrk {args.connections} connections, {args.duration}s per endpoint, "
        f"{args.rounds} alternating rounds"
    )
    cached = run("(cached)", {}, args)
    print_table(cached, baseline=cached[0], title="Vault secret read, cached (shared cache, TTL 300 s)")
    uncached = run("(uncached)", {"VAULT_RESPONSE_CACHE_TTL": "0"}, args)
    print_table(uncached, baseline=uncached[0], title="Vault secret read, uncached (TTL 0: OpenBao per request)")
    cached_ratio = ratio(cached)
    verdict = "met" if cached_ratio >= 0.8 else "NOT met"
    print(f"\ncached read = {cached_ratio:.2f}x GET /health/ req/s (target 0.8x: {verdict}); ", end="")
    print(f"uncached read = {ratio(uncached):.2f}x")


if __name__ == "__main__":
    main()
