"""The ``thudo`` command: serve the broker, run the demo or the simulator, check a
configuration, print the version."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from thudo import __version__
from thudo.config import Settings, load_settings
from thudo.demo import add_arguments as add_demo_arguments
from thudo.demo import run_demo
from thudo.errors import SettingsError
from thudo.log import configure_logging, mask_secrets
from thudo.simulate.command import add_arguments as add_simulate_arguments
from thudo.simulate.command import run_simulate

__all__ = ["app_from_environment", "main"]


def app_from_environment() -> object:
    """The ASGI app built from THUDO_* settings; uvicorn calls this in each worker."""
    from thudo.api.app import create_app
    from thudo.runtime import settle_heap

    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    return create_app(settings, after_startup=lambda: settle_heap(settings.gc_young_objects))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="thudo", description="thudo: an open urban data platform (NGSI-LD broker)."
    )
    parser.add_argument("--version", action="version", version=f"thudo {__version__}")
    parser.add_argument("--config", help="a TOML configuration file (also THUDO_CONFIG)")
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="run the NGSI-LD API")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 1026)")
    serve.add_argument("--workers", type=int, help="worker processes (default 1)")
    serve.add_argument("--database-url", help="sqlite:///path (default sqlite:///thudo.db)")
    config = sub.add_parser("config", help="configuration commands")
    config_sub = config.add_subparsers(dest="config_command")
    config_sub.add_parser("check", help="validate the configuration and print it")
    db = sub.add_parser("db", help="database schema commands")
    db_sub = db.add_subparsers(dest="db_command")
    for name, text in (
        ("upgrade", "apply the missing schema migrations"),
        ("status", "print the schema version and pending migrations"),
    ):
        db_sub.add_parser(name, help=text).add_argument(
            "--database-url", help="sqlite:///path or postgresql://..."
        )
    add_simulate_arguments(sub.add_parser("simulate", help="run the simulated Hanoi device fleet"))
    add_demo_arguments(sub.add_parser("demo", help="run a living Hanoi: API, simulator, alerts"))
    return parser


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "host": getattr(args, "host", None),
        "port": getattr(args, "port", None),
        "workers": getattr(args, "workers", None),
        "database_url": getattr(args, "database_url", None),
    }


def _serve(settings: Settings, config_file: str | None) -> int:
    import uvicorn

    # Workers are separate processes: they rebuild the settings from the environment.
    os.environ.update(
        {
            f"THUDO_{k.upper()}": str(getattr(settings, k))
            for k in ("host", "port", "workers", "database_url")
        }
    )
    if config_file:
        os.environ["THUDO_CONFIG"] = config_file
    configure_logging(settings.log_level, settings.log_format)
    uvicorn.run(
        "thudo.cli:app_from_environment",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        access_log=False,
        log_config=None,
        server_header=False,
        timeout_graceful_shutdown=10,
    )
    return 0


def _check(settings: Settings) -> int:
    for name in settings.__dataclass_fields__:
        value = getattr(settings, name)
        print(f"{name} = {mask_secrets(str(value))}")
    print("configuration is valid")
    return 0


def _db(settings: Settings, command: str) -> int:
    from thudo.errors import NgsiError
    from thudo.store.admin import schema_status, upgrade_schema

    try:
        if command == "upgrade":
            before, status = upgrade_schema(settings)
            print(
                f"{status.backend}: schema upgraded from version {before.current}"
                f" to {status.current}"
            )
            return 0
        status = schema_status(settings)
    except (NgsiError, SettingsError) as exc:
        print(f"thudo: database error: {exc}", file=sys.stderr)
        return 2
    pending = ", ".join(map(str, status.pending)) or "none"
    print(
        f"{status.backend}: schema version {status.current} of {status.latest};"
        f" pending migrations: {pending}"
    )
    return 0 if not status.pending else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``thudo`` command."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config, None, **_overrides(args))
        if args.command == "serve" or (args.command == "config" and args.config_command):
            from thudo.pipeline.runner import load_rules

            load_rules(settings)  # a bad alert rules file is a configuration error too
    except SettingsError as exc:
        print(f"thudo: configuration error: {exc}", file=sys.stderr)
        return 2
    if args.command == "serve":
        return _serve(settings, args.config)
    if args.command == "config" and args.config_command == "check":
        return _check(settings)
    if args.command == "db" and args.db_command in ("upgrade", "status"):
        return _db(settings, args.db_command)
    if args.command == "demo":
        return run_demo(args)
    if args.command == "simulate":
        configure_logging("warning", "text")
        return run_simulate(args)
    parser.print_help()
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
