"""`spotify-assets import --user ID PATH...`: the inbox import, synchronously, for an operator."""

import argparse
import shutil
import sys
from pathlib import Path

from spotify_assets.lib.settings import get_settings


def _cmd_import(args: argparse.Namespace) -> int:
    import dagster as dg

    from spotify_assets.defs.listening.imports import import_item
    from spotify_assets.defs.listening.sensors import refresh_requests, stats_requests
    from spotify_assets.defs.resources import Warehouse
    from spotify_assets.lib.ids import validate_user_id
    from spotify_assets.lib.orchestrate import QUIET
    from spotify_assets.lib.raw import RawStore

    settings = get_settings()
    user_id = validate_user_id(args.user)
    warehouse, raw = Warehouse(settings), RawStore(settings.raw_dir)
    inbox = settings.inbox_dir / user_id
    inbox.mkdir(parents=True, exist_ok=True)
    failed, days = False, set()
    for path in map(Path, args.paths):
        if not path.is_file():
            print(f"{path}: no such file", file=sys.stderr)
            failed = True
            continue
        staged = inbox / path.name
        shutil.copyfile(path, staged)  # the inbox keeps what was imported, like the sensor
        result = import_item(settings, warehouse, raw, user_id, staged)
        print(f"== {path}: {result.status}")
        if result.error:
            print(result.error)
            failed = True
        for report in result.reports:
            print(report.to_markdown())
        days |= result.days
    warehouse.publish()
    if days and not args.no_refresh:
        from spotify_assets.definitions import defs

        definitions = defs()
        instance = dg.DagsterInstance.get() if args.dagster_home else dg.DagsterInstance.ephemeral()
        # In order: the day ranges first, then what reads all of history.
        requests = [*refresh_requests(days, "cli-import"), *stats_requests("cli-import")]
        for request in requests:
            job = definitions.resolve_job_def(request.job_name)
            span = dict(request.tags) or request.partition_key or ""
            print(f"refreshing {request.job_name} {span}")
            job.execute_in_process(
                instance=instance,
                tags=request.tags,
                partition_key=request.partition_key,
                run_config=QUIET,
            )
    return 1 if failed else 0


def add_subcommands(sub: argparse._SubParsersAction) -> None:
    command = sub.add_parser(
        "import", help="import privacy-export files (zip or JSON) for a user and print reports"
    )
    command.add_argument("--user", required=True, help="the user's id (see `users list`)")
    command.add_argument("paths", nargs="+", help="export .zip or .json files")
    command.add_argument(
        "--no-refresh", action="store_true", help="import only; let the sensor refresh stats"
    )
    command.add_argument(
        "--dagster-home",
        action="store_true",
        help="record the refresh runs in $DAGSTER_HOME (default: an ephemeral instance)",
    )
    command.set_defaults(func=_cmd_import)
