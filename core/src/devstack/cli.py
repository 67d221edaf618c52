"""The ``devstack`` command: serve, plugins, spec, health, settings, new-plugin, install.

Exit codes: 0 done; 1 the answer is bad news (``health`` degraded, ``spec --check``
differs, ``plugins`` with a failed plugin in strict mode, stdout closed early); 2 a
mistake the person can fix (a setting, a file, a port), said in one line on stderr that
names what failed and on what; 130 interrupted. Never a traceback, never a credential:
what is printed goes through devstack's masking policy.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from devstack import __version__, installer, scaffold
from devstack.foundation.settings_errors import invalid_settings
from devstack.foundation.settings_table import describe_settings, settings_markdown
from devstack.plugin_system.records import PluginError

HEALTH_WAIT = 15.0


class UserError(Exception):
    """A mistake the user can fix: printed as one line on stderr, exit code 2."""


def build_app(strict: bool | None = None) -> Any:
    from devstack.foundation.settings import CoreSettings
    from devstack.runtime.app import create_app

    overrides: dict[str, Any] = {"log_level": os.environ.get("DEVSTACK_LOG_LEVEL", "WARNING")}
    if strict is not None:
        overrides["strict_plugins"] = strict
    return create_app(CoreSettings(**overrides))


def cmd_serve(args: argparse.Namespace) -> int:
    from devstack.runtime.server import serve

    env = {
        "DEVSTACK_HOST": args.host,
        "DEVSTACK_PORT": args.port,
        "DEVSTACK_HTTPS_PORT": args.https_port,
        "DEVSTACK_WORKERS": args.workers,
        "DEVSTACK_SERVER": args.server,
        "DEVSTACK_TLS_ENABLED": {True: "true", False: "false"}.get(args.tls),
        "DEVSTACK_TLS_CERT_FILE": args.certfile,
        "DEVSTACK_TLS_KEY_FILE": args.keyfile,
    }
    for key, value in env.items():
        if value is not None:
            os.environ[key] = str(value)
    return serve()


def cmd_plugins(args: argparse.Namespace) -> int:
    if args.requirements:
        from devstack.installer import requirements

        print("\n".join(requirements()))
        return 0
    app = build_app(strict=False)
    from devstack.foundation.settings import CoreSettings
    from devstack.runtime.app import state_of

    records = [record.as_dict() for _, record in sorted(state_of(app).registry.records.items())]
    print_plugins(records, args.json)
    failed = [r["name"] for r in records if r["status"] == "failed"]
    if failed and CoreSettings().strict_plugins:
        names = ", ".join(failed)
        print(f"devstack plugins: failed while strict mode is on (DEVSTACK_STRICT_PLUGINS): {names}", file=sys.stderr)
        return 1
    return 0


def print_plugins(records: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        print(json.dumps({"plugins": records}, indent=2))
        return
    rows = [("NAME", "DISTRIBUTION", "VERSION", "STATUS", "ROUTES", "CHECKS", "ERROR")]
    for r in records:
        rows.append(
            (
                r["name"],
                r["distribution"] or "-",
                r["version"] or "-",
                r["status"],
                str(len(r["routes"])),
                ",".join(r["health_checks"]) or "-",
                r["error"] or "",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def cmd_spec(args: argparse.Namespace) -> int:
    from devstack.contract import diff, dump_yaml, read_spec_file
    from devstack.runtime.app import state_of

    app = build_app()
    state = state_of(app)
    document = state.contract
    if args.check is not None:
        path = Path(args.check)
        if not path.is_file():
            raise UserError(f"no such file: {path}")
        difference = diff(read_spec_file(path), document, str(path), "served document")
        problems = list(state.contract_gaps)
        if difference:
            sys.stdout.write(difference)
            problems.append(f"the served document differs from {path}")
        for problem in problems:
            print(f"devstack spec: {problem}", file=sys.stderr)
        return 1 if problems else 0
    text = json.dumps(document, indent=2) + "\n" if args.json else dump_yaml(document)
    if args.output:
        try:
            Path(args.output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UserError(f"cannot write {args.output} (spec -o): {exc.strerror or type(exc).__name__}") from None
    else:
        sys.stdout.write(text)
    return 0


def cmd_health(args: argparse.Namespace) -> int:
    from devstack.runtime.app import state_of

    app = build_app()

    async def run() -> dict[str, Any]:
        async with app.test_app():
            state = state_of(app)
            # judge only once every background opening has had its first attempt
            still_opening = await state.host.openings_settled(args.wait)
            if still_opening:
                names = ", ".join(still_opening)
                print(f"devstack health: still opening after {args.wait:g} s (--wait): {names}", file=sys.stderr)
            result: dict[str, Any] = await state.health.run_all()
            return result

    result = asyncio.run(run())
    print(json.dumps(result, indent=2))
    return 0 if result["status"] == "healthy" else 1


def cmd_settings(args: argparse.Namespace) -> int:
    from devstack.foundation.settings import CoreSettings
    from devstack.runtime.app import state_of

    app = build_app(strict=False)
    state = state_of(app)
    rows = describe_settings("core", CoreSettings, CoreSettings())
    for owner, model in sorted(state.settings_models.items()):
        rows += describe_settings(owner, model, state.host.settings(model))
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
    elif args.markdown:
        print(settings_markdown(rows))
    else:
        for row in rows:
            value = json.dumps(row["value"], default=str)
            print(f"{row['owner']:<10} {row['env']:<36} {value:<40} {row['description']}")
    # a plugin that failed (an invalid setting, ...) has no rows: say why, and fail
    failed = [record for _, record in sorted(state.registry.records.items()) if record.status == "failed"]
    for record in failed:
        print(f"devstack settings: plugin {record.name}: {record.error}", file=sys.stderr)
    return 2 if failed else 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="devstack", description="Plugin-based API host for infrastructure services")
    top.add_argument("--version", action="version", version=f"devstack {__version__}")
    sub = top.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the API (Hypercorn, or Granian with --server granian)")
    serve.add_argument("--host", help="bind address (DEVSTACK_HOST)")
    serve.add_argument("--port", type=int, help="HTTP port (DEVSTACK_PORT, default 8001)")
    serve.add_argument("--https-port", type=int, help="HTTPS port (DEVSTACK_HTTPS_PORT, default 8444)")
    serve.add_argument("--workers", type=int, help="worker processes (DEVSTACK_WORKERS, default 1)")
    serve.add_argument(
        "--server", choices=("hypercorn", "granian"), help="HTTP server (DEVSTACK_SERVER, default hypercorn)"
    )
    serve.add_argument("--tls", action=argparse.BooleanOptionalAction, default=None, help="also serve HTTPS")
    serve.add_argument("--certfile", help="PEM certificate chain (when no plugin issues one)")
    serve.add_argument("--keyfile", help="PEM private key")
    serve.set_defaults(func=cmd_serve)

    plugins = sub.add_parser("plugins", help="list discovered plugins")
    plugins.add_argument("--json", action="store_true")
    plugins.add_argument(
        "--requirements",
        action="store_true",
        help="devstack-core and the plugins' distributions, pinned (name==version)",
    )
    plugins.set_defaults(func=cmd_plugins)

    installer.add_commands(sub)

    spec = sub.add_parser("spec", help="print the merged OpenAPI document")
    spec.add_argument("--check", metavar="FILE", help="exit 1 and print the difference when FILE differs")
    spec.add_argument("--json", action="store_true", help="JSON instead of YAML")
    spec.add_argument("--output", "-o", help="write to a file")
    spec.set_defaults(func=cmd_spec)

    health = sub.add_parser("health", help="run every health check once (exit 1 when degraded)")
    health.add_argument(
        "--wait",
        type=float,
        default=HEALTH_WAIT,
        metavar="SECONDS",
        help=f"longest wait for the plugins' background connections to make their first attempt "
        f"before judging (default {HEALTH_WAIT:g})",
    )
    health.set_defaults(func=cmd_health)

    settings = sub.add_parser("settings", help="every setting, its environment variable and value")
    settings.add_argument("--json", action="store_true")
    settings.add_argument("--markdown", action="store_true", help="defaults as a Markdown table (for the README)")
    settings.set_defaults(func=cmd_settings)

    scaffold.add_command(sub)
    return top


def stdout_closed() -> int:
    """The reader of stdout went away (``devstack spec | head -c1``): say so, exit 1."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())  # the interpreter's last flush must not fail again
    print("devstack: stdout was closed before the output was written (its reader exited)", file=sys.stderr)
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    from devstack.foundation.settings import CoreSettings
    from devstack.runtime.server import ServeError

    args = parser().parse_args(argv)
    try:
        code: int = args.func(args)
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        return stdout_closed()
    except (UserError, PluginError, ServeError, installer.InstallError, scaffold.ScaffoldError) as exc:
        print(f"devstack: {exc}", file=sys.stderr)
        return 2
    except ValidationError as exc:
        lines = invalid_settings(CoreSettings, exc) if exc.title == CoreSettings.__name__ else []
        for line in lines or [f"{exc.title}: {exc.error_count()} invalid values"]:
            print(f"devstack: invalid setting {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - no tracebacks for users
        print(f"devstack {args.command}: unexpected error ({type(exc).__name__})", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
