"""`spotify-assets import --user ID PATH...`: the inbox import, synchronously, for an operator.

The import and its refresh go through the deployment's Dagster instance (the local one under
`data/` unless `DAGSTER_HOME` says otherwise), so the runs show in the UI, take the `days_*`
pools like the sensor's runs, and are retried like them. The days an import changed stay stale
until a refresh of them succeeds: if this command is stopped (or its refresh fails), the sensor
of a running deployment, or the next `spotify-assets import` or `spotify-assets refresh`,
picks them up.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

from spotify_assets.lib.settings import Settings, get_settings


def refresh_stale(settings: Settings, instance, *, stats: bool = True) -> int:
    """Run the refreshes the sensor would request now, then (`stats`) the all-history tables
    and today's tops; returns the number of failed runs."""
    from spotify_assets.lib.progress import Progress, report_every

    # Loading and planning take a few seconds before the first run says anything.
    setup = Progress("refresh", show_rate=False)
    with report_every(setup, _to_stderr, at_start=True):
        setup.update(stage="loading the definitions, planning the runs")
        planned = _plan_refresh(settings, instance)
    if planned is None:
        return 0
    return _run_refreshes(instance, *planned, stats=stats)


def _plan_refresh(settings: Settings, instance) -> tuple | None:
    from spotify_assets.defs.pools import POOL_LIMITS
    from spotify_assets.lib.instance import ensure_pool_limits
    from spotify_assets.lib.runs import fail_dead_runs

    ensure_pool_limits(instance, POOL_LIMITS)
    # Without a daemon nothing else notices a refresh killed earlier: free its slots first.
    for run_id in fail_dead_runs(instance):
        print(f"run {run_id}: its worker is gone; marked failed, pool slots freed")
    from spotify_assets.definitions import defs
    from spotify_assets.defs.listening.history import STALE_SCOPE
    from spotify_assets.defs.listening.sensors import refresh_requests
    from spotify_assets.defs.resources import Warehouse

    manifest = Warehouse(settings).lake.manifest
    if not manifest.stale(STALE_SCOPE):
        print("nothing to refresh: no stale days")
        return None
    # The operator asked for it now: no waiting after a failed refresh, as the sensor does.
    requests, note = refresh_requests(instance, manifest, datetime.now(UTC), cool_down=False)
    print(note, flush=True)
    return manifest, requests, defs()


def _run_refreshes(instance, manifest, requests: list, definitions, *, stats: bool) -> int:
    from spotify_assets.defs.listening.sensors import settle, stats_requests
    from spotify_assets.lib.orchestrate import QUIET
    from spotify_assets.lib.progress import follow_run_log
    from spotify_assets.lib.runs import stranded_step_watch, was_interrupted, worker_tags

    failed = 0
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    for request in [*requests, *(stats_requests(f"cli-{stamp}") if requests and stats else [])]:
        job = definitions.resolve_job_def(request.job_name)
        span = " .. ".join(request.tags.values()) if request.tags else request.partition_key
        print(f"refreshing {request.job_name} {span or ''}".rstrip(), flush=True)
        run_id = str(uuid.uuid4())
        # The console stays quiet; the steps' progress lines are shown as the run records them.
        with (
            follow_run_log(instance, run_id, _to_stderr, what=request.job_name),
            stranded_step_watch(instance),
        ):
            result = job.execute_in_process(
                instance=instance,
                tags={**worker_tags(), **request.tags},
                partition_key=request.partition_key,
                run_config=QUIET,
                raise_on_error=False,
                run_id=run_id,
            )
        if result.success:
            settle(result.dagster_run, manifest)
        else:
            failed += 1
            print(f"  run {result.run_id} failed; its days stay stale", file=sys.stderr)
            if was_interrupted(result):
                raise KeyboardInterrupt(f"run {result.run_id[:8]} of {request.job_name} stopped")
    return failed


def _to_stderr(line: str) -> None:
    print(f"  {line}", file=sys.stderr, flush=True)


def _cmd_import(args: argparse.Namespace) -> int:
    from spotify_assets.defs.listening.imports import import_item
    from spotify_assets.defs.resources import Warehouse
    from spotify_assets.lib.atomic import atomic_path
    from spotify_assets.lib.exports.progress import ImportProgress
    from spotify_assets.lib.instance import deployment_instance
    from spotify_assets.lib.progress import terminal_progress
    from spotify_assets.lib.raw import RawStore
    from spotify_assets.lib.users.registry import UserRegistry

    settings = get_settings()
    user_id = UserRegistry(settings).require_listener(args.user).id
    paths = [Path(p) for p in args.paths]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        for path in missing:
            print(f"{path}: no such file", file=sys.stderr)
        return 1
    # Before touching any data: the refresh must be able to run where the UI looks.
    instance = None if args.no_refresh else deployment_instance(settings)
    warehouse, raw = Warehouse(settings), RawStore(settings.raw_dir)
    inbox = settings.inbox_dir / user_id
    inbox.mkdir(parents=True, exist_ok=True)
    failed = False
    for path in paths:
        staged = inbox / path.name
        # The inbox keeps what was imported, like the sensor's; copied whole or not at all (a
        # copy cut short by Ctrl-C would be imported later as a broken export).
        with atomic_path(staged) as tmp:
            shutil.copyfile(path, tmp)
        progress = ImportProgress(f"import {path.name}")
        with terminal_progress(progress):  # a bar on a terminal, else a line every few seconds
            result = import_item(settings, warehouse, raw, user_id, staged, progress)
        print(f"== {path}: {result.status}")
        if result.error:
            print(result.error)
            failed = True
        for report in result.reports:
            print(report.to_markdown())
    warehouse.publish()
    if instance is not None and refresh_stale(settings, instance):
        failed = True
    return 1 if failed else 0


def upgrade_instance(settings: Settings, instance) -> dict[str, int]:
    """Bring a deployment made with daily history partitions to month partitions, once.

    The lake needs nothing: its first use adopted the daily layout's files as they are. In
    Dagster, the history assets' month partitions are new: every month a daily run considered
    (the asset had a materialized day in it) is reported materialized, with its own row count,
    by a runless materialization event; nothing is recomputed or re-imported. Months already
    materialized at the monthly grain are left alone, so running it twice changes nothing.
    """
    import dagster as dg

    from spotify_assets.defs.listening.history import HISTORY_ASSETS
    from spotify_assets.defs.resources import Warehouse

    warehouse = Warehouse(settings)
    warehouse.publish()
    reported: dict[str, int] = {}
    for name in HISTORY_ASSETS:
        key = dg.AssetKey(name)
        # A daily key and a month key look alike ("2026-11-01"): either way it is a month
        # someone considered.
        months = sorted({k[:7] + "-01" for k in instance.get_materialized_partitions(key)})
        rows: dict[str, int] = {}
        for entry in warehouse.lake.entries(name):
            month = entry.partition[:7] + "-01"
            rows[month] = rows.get(month, 0) + entry.rows
        todo = [m for m in months if not _has_monthly_materialization(instance, key, m)]
        for month in todo:
            instance.report_runless_asset_event(
                dg.AssetMaterialization(
                    asset_key=key,
                    partition=month,
                    metadata={
                        "dagster/row_count": rows.get(month, 0),
                        "refresh_mode": "upgrade: reported from the daily layout's runs",
                    },
                )
            )
        reported[name] = len(todo)
    return reported


def _has_monthly_materialization(instance, key, month: str) -> bool:
    """Whether the latest materialization of `month` was made at the monthly grain (every such
    event carries `refresh_mode`; a daily run's did not)."""
    import dagster as dg

    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[month]), limit=1
    ).records
    if not records:
        return False
    materialization = records[0].event_log_entry.asset_materialization
    return materialization is not None and "refresh_mode" in materialization.metadata


def _cmd_upgrade(args: argparse.Namespace) -> int:
    from spotify_assets.lib.instance import deployment_instance

    settings = get_settings()
    reported = upgrade_instance(settings, deployment_instance(settings))
    for name, months in reported.items():
        print(f"{name}: {months} month partition(s) reported materialized")
    return 0


def _cmd_refresh(args: argparse.Namespace) -> int:
    from spotify_assets.lib.instance import deployment_instance

    settings = get_settings()
    return 1 if refresh_stale(settings, deployment_instance(settings)) else 0


def add_subcommands(sub: argparse._SubParsersAction) -> None:
    command = sub.add_parser(
        "import", help="import privacy-export files (zip or JSON) for a user and print reports"
    )
    command.add_argument("--user", required=True, help="the user's id (see `users list`)")
    command.add_argument("paths", nargs="+", help="export .zip or .json files")
    command.add_argument(
        "--no-refresh", action="store_true", help="import only; let the sensor refresh stats"
    )
    command.set_defaults(func=_cmd_import)
    refresh = sub.add_parser(
        "refresh", help="refresh the listening history of every stale day now (as the sensor)"
    )
    refresh.set_defaults(func=_cmd_refresh)
    upgrade = sub.add_parser(
        "upgrade",
        help="once, after updating from daily history partitions: report the months the "
        "daily runs materialized (nothing is recomputed)",
    )
    upgrade.set_defaults(func=_cmd_upgrade)
