"""Materialize the whole graph (or a selection) in this process, through the deployment's
instance: the demo's and end-to-end tests' runs (`lib/orchestrate.py` plans them).

App code, above `defs/`: it loads the definitions and builds their resources.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from datetime import date
from pathlib import Path

import dagster as dg

from spotify_assets.lib.orchestrate import (
    QUIET,
    RANGE_END_TAG,
    RANGE_START_TAG,
    job_of,
    plan,
    split_by_job,
)
from spotify_assets.lib.runs import stranded_step_watch, worker_tags
from spotify_assets.lib.settings import Settings


def materialize_everything(
    settings: Settings,
    start: str,
    end: str,
    *,
    instance: dg.DagsterInstance | None = None,
    op_config: Mapping[str, dict] | None = None,
) -> list[dg.ExecuteInProcessResult]:
    """Every asset over [start, end]; `op_config` gives run config by op name, applied in the
    run that executes that op."""
    from spotify_assets.definitions import defs as load_defs

    defs = load_defs()
    results = []
    for step in plan(defs, date.fromisoformat(start), date.fromisoformat(end)):
        tags = {}
        span = ""
        if step.partition_range:
            tags = {
                RANGE_START_TAG: step.partition_range[0],
                RANGE_END_TAG: step.partition_range[1],
            }
            span = f" [{step.partition_range[0]} .. {step.partition_range[1]}]"
        for job_name, keys in split_by_job(defs, step.keys):
            ops = {defs.resolve_assets_def(key).node_def.name for key in keys}
            config = {op: {"config": c} for op, c in (op_config or {}).items() if op in ops}
            names = [k.to_user_string() for k in keys]
            print(f"[run] {job_name or 'assets'}: {', '.join(names)}{span}", flush=True)
            results.append(
                materialize_selection(
                    settings, names, instance=instance, tags=tags, op_config=config
                )
            )
    return results


def materialize_selection(
    settings: Settings,
    keys: list[str],
    *,
    instance: dg.DagsterInstance | None = None,
    tags: dict | None = None,
    op_config: dict | None = None,
) -> dg.ExecuteInProcessResult:
    """One run of the named assets (and their checks) with resources built from `settings`:
    a run of the named job they belong to (its tags too) when one job selects them all."""
    from spotify_assets.definitions import defs as load_defs
    from spotify_assets.defs.resources import build_resources

    defs = load_defs()
    asset_keys = [dg.AssetKey.from_user_string(k) for k in keys]
    owners = {job_of(defs).get(key) for key in asset_keys}
    [job_name] = owners if len(owners) == 1 else [None]
    run_config = {**QUIET, "ops": op_config or {}}
    # In process: the run's worker is this process, as the dead-run watchdog must know.
    run_tags = {**worker_tags(), **(tags or {})}
    instance = instance or dg.DagsterInstance.get()
    if job_name is None:
        with stranded_step_watch(instance):
            return dg.materialize(
                [*(defs.assets or []), *(defs.asset_checks or [])],
                selection=dg.AssetSelection.assets(*asset_keys),
                instance=instance,
                resources=build_resources(settings),
                tags=run_tags,
                raise_on_error=True,
                run_config=run_config,
            )
    # The job itself, narrowed to these assets (and their checks): the run shows as the job.
    [job] = [j for j in defs.jobs or [] if j.name == job_name][:1]
    narrowed = dg.define_asset_job(
        job.name,
        selection=dg.AssetSelection.assets(*asset_keys),
        config=job.config,
        description=job.description,
        tags=job.tags,
        run_tags=job.run_tags,
        partitions_def=job.partitions_def,
        executor_def=job.executor_def,
        hooks=job.hooks,
        op_retry_policy=job.op_retry_policy,
    )
    run_defs = dg.Definitions(
        assets=defs.assets,
        asset_checks=defs.asset_checks,
        jobs=[narrowed],
        resources=build_resources(settings),
    )
    with stranded_step_watch(instance):
        return run_defs.resolve_job_def(job_name).execute_in_process(
            instance=instance, tags=run_tags, raise_on_error=True, run_config=run_config
        )


def print_summary(settings: Settings) -> None:
    from spotify_assets.defs.resources import Warehouse
    from spotify_assets.lib.catalog import summarize

    Warehouse(settings).publish()
    summary = summarize(settings.warehouse_path)
    print("\nwarehouse tables (rows):")
    for name, rows in summary.views.items():
        print(f"  {name:36} {rows:>10,}")
    print(f"\nwarehouse: {summary.path.absolute()}")
    print(f"lake:      {settings.lake_dir.resolve()}")
    # The DuckDB CLI installed beside us (duckdb-cli), not whichever `duckdb` is on PATH.
    shell = Path(sys.executable).with_name("duckdb")
    print(
        f"open it:   cd {summary.path.absolute().parent} && {shell} -readonly {summary.path.name}"
        "  (its lake paths are relative to that folder; or `spotify-assets sql`)"
    )
