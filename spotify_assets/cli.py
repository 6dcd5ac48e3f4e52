"""`spotify-assets`: the operator's command line.

Each domain adds its own subcommands through an `add_subcommands(subparsers)` function; this
module only assembles them, so `spotify-assets --help` lists everything an operator can do.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import NoReturn

from spotify_assets.lib.settings import SettingsError, get_settings


def _cmd_emulator(args: argparse.Namespace) -> int:
    from spotify_assets.emulator.server import serve
    from spotify_assets.emulator.world import WorldConfig

    end = datetime.fromisoformat(args.end) if args.end else None
    # It serves until stopped: Ctrl-C or SIGTERM (the demo's) is its normal end, not an error.
    with contextlib.suppress(KeyboardInterrupt):
        serve(
            args.port,
            WorldConfig(seed=args.seed, days=args.days, end=end),
            mb_min_interval_s=args.mb_min_interval,
        )
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from spotify_assets.demo import run_demo

    return run_demo(get_settings(), exit_after_summary=args.exit_after_summary, ui_port=args.port)


def _cmd_catalog(args: argparse.Namespace) -> int:
    from spotify_assets.defs.resources import Warehouse
    from spotify_assets.lib.catalog import summarize

    if args.action == "docs":
        from spotify_assets import dictionary

        print(f"wrote {dictionary.write()}")
        return 0
    settings = get_settings()
    warehouse = Warehouse(settings)
    if args.action == "refresh":
        warehouse.publish()
    if not settings.warehouse_path.exists():
        print(f"no catalog yet at {settings.warehouse_path}; run a materialization first")
        return 1
    for name, rows in summarize(settings.warehouse_path).views.items():
        print(f"{name:32} {rows:>10}")
    print(f"catalog: {settings.warehouse_path.absolute()}")
    return 0


def _cmd_runs(args: argparse.Namespace) -> int:
    from spotify_assets.lib.instance import deployment_instance
    from spotify_assets.lib.runs import fail_dead_runs

    instance = deployment_instance(get_settings())
    failed = fail_dead_runs(instance)
    for run_id in failed:
        print(f"run {run_id}: its worker is gone; marked failed, pool slots freed")
    print(f"{len(failed)} run(s) with a dead worker" if failed else "no run with a dead worker")
    return 0


def _core_subcommands(sub: argparse._SubParsersAction) -> None:
    emulator = sub.add_parser("emulator", help="serve the local Spotify + MusicBrainz emulator")
    emulator.add_argument("--port", type=_port, default=get_settings().emulator_port)
    emulator.add_argument("--seed", type=int, default=42)
    emulator.add_argument("--days", type=int, default=get_settings().demo_days)
    emulator.add_argument("--end", help="the world's 'now' (ISO, with timezone)")
    emulator.add_argument(
        "--mb-min-interval",
        type=float,
        help="seconds between MusicBrainz requests the emulator accepts (default 1.0, as MB)",
    )
    emulator.set_defaults(func=_cmd_emulator)

    demo = sub.add_parser(
        "demo", help="run the whole pipeline on the emulator, print a summary, serve the UI"
    )
    demo.add_argument(
        "--exit-after-summary",
        action="store_true",
        default=os.environ.get("DEMO_EXIT_AFTER_SUMMARY", "") not in ("", "0"),
        help="exit after the summary instead of serving the Dagster UI "
        "(or set DEMO_EXIT_AFTER_SUMMARY=1)",
    )
    demo.add_argument("--port", type=_port, default=3000, help="Dagster UI port")
    demo.set_defaults(func=_cmd_demo)

    runs = sub.add_parser(
        "runs",
        help="fail started runs whose worker process is gone and free their pool slots "
        "(what dead_run_sensor does when a daemon runs)",
    )
    runs.add_argument("action", choices=["check"])
    runs.set_defaults(func=_cmd_runs)

    catalog = sub.add_parser("catalog", help="the DuckDB catalog over the lake")
    catalog.add_argument(
        "action",
        choices=["refresh", "summary", "docs"],
        help="refresh: publish the lake's current state; summary: views and row counts; "
        "docs: regenerate docs/warehouse.md (the data dictionary)",
    )
    catalog.set_defaults(func=_cmd_catalog)


def _domain_registrars() -> list[Callable[[argparse._SubParsersAction], None]]:
    """Subcommands of the domains, imported lazily so `--help` stays fast."""
    registrars = []
    for module_name in (
        "spotify_assets.user_commands",
        "spotify_assets.defs.listening.commands",
        "spotify_assets.defs.wrapped.commands",
        "spotify_assets.defs.operations.commands",
        "spotify_assets.defs.warehouse.commands",
        "spotify_assets.bench.commands",
    ):
        try:
            module = __import__(module_name, fromlist=["add_subcommands"])
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                continue  # that domain is not installed in this build
            raise
        registrars.append(module.add_subcommands)
    return registrars


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line that says where the help is."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see `{self.prog} --help`)\n")


def _port(text: str) -> int:
    port = int(text)
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port {port} is not between 1 and 65535")
    return port


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="spotify-assets", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _core_subcommands(sub)
    for register in _domain_registrars():
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from spotify_assets.lib.errors import OPERATOR_ERRORS
    from spotify_assets.lib.process import heed_sigterm, stopped_by_signal

    heed_sigterm()
    try:
        args = build_parser().parse_args(argv)
        return int(args.func(args) or 0)
    except (SettingsError, *OPERATOR_ERRORS) as exc:
        # Bad input from the operator: one line that says what to do, never a traceback.
        print(f"spotify-assets: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        print(f"spotify-assets: interrupted{f' ({exc})' if str(exc) else ''}", file=sys.stderr)
        return 130
    except Exception:
        signal_name = stopped_by_signal()
        if signal_name is None:
            raise
        print(f"spotify-assets: interrupted (stopped by signal {signal_name})", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
