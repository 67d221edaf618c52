"""GET /health/ and GET / with every production feature on, next to the bare Quart route.

On: rate limits (memory storage, limits high enough never to trigger), API keys (the key
sent), CORS (an allowed Origin sent, so every response carries the CORS headers),
request ids, response-time header, metrics, one JSON log line per request at INFO
(written to the server's log file), request-body checks, the circuit-breaker state in
GET /. Target (issue: production behaviour): at least 0.8x the bare route's req/s.

    .venv/bin/python bench/bench_core.py [--duration 10] [--connections 32] [--log-level INFO]
"""

from __future__ import annotations

import argparse

from harness import Result, bare_quart_server, devstack_server, machine, print_table, wrk

API_KEY = "bench-key-0123456789abcdef"
HEADERS = {"X-API-Key": API_KEY, "Origin": "http://localhost:3000"}


def production_env(log_level: str) -> dict[str, str]:
    return {
        "DEVSTACK_LOG_LEVEL": log_level,
        "DEVSTACK_RATE_LIMIT_ENABLED": "true",
        "DEVSTACK_RATE_LIMIT_GENERAL": "100000000/minute",
        "DEVSTACK_RATE_LIMIT_HEALTH": "100000000/minute",
        "DEVSTACK_RATE_LIMIT_METRICS": "100000000/minute",
        "DEVSTACK_API_KEYS": API_KEY,
        "DEVSTACK_CORS_ORIGINS": "http://localhost:3000,http://localhost:8000,http://localhost:8001",
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the best of each is shown")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args()
    print(
        f"machine: {machine()}; wrk {args.connections} connections, {args.duration}s per endpoint and round, "
        f"best of {args.rounds} interleaved rounds; devstack log level {args.log_level}"
    )
    server = devstack_server(production_env(args.log_level))
    server.ready_path = "/health/live"  # exempt from API keys
    targets = [
        ("bare Quart /health/", "bare", "/health/", {}),
        ("devstack GET /health/ (all on)", "devstack", "/health/", HEADERS),
        ("devstack GET / (all on)", "devstack", "/", HEADERS),
    ]
    best: dict[str, Result] = {}
    with bare_quart_server() as bare, server:
        urls = {"bare": bare.url, "devstack": server.url}
        for _ in range(args.rounds):  # interleaved, so that a busy moment hits every target alike
            for label, which, path, headers in targets:
                result = wrk(
                    label, urls[which] + path, headers=headers, connections=args.connections, duration=args.duration
                )
                if label not in best or result.rps > best[label].rps:
                    best[label] = result
    results = [best[label] for label, *_ in targets]
    print_table(results, baseline=results[0], title="Production features on")


if __name__ == "__main__":
    main()
