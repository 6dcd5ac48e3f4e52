"""Materialize the whole graph over a date window, as the demo and end-to-end tests do.

Assets are taken in topological order and grouped by partitions definition; each group runs as
Dagster runs (a partition range for time-partitioned groups, per the single-run backfill
policy), recorded in the instance so the UI shows them. Each run is one of the named jobs an
operator knows from the sensors and schedules (`import_job`, `listening_refresh_job`, ...),
limited to the group's assets of that job, never Dagster's anonymous `__ephemeral_asset_job__`.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import dagster as dg

from spotify_assets.lib.runs import stranded_step_watch, worker_tags
from spotify_assets.lib.settings import Settings

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
# The console shows warnings and errors; every event is still in the instance for the UI.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dataclass(frozen=True)
class Step:
    keys: tuple[dg.AssetKey, ...]
    partition_range: tuple[str, str] | None


def _window_keys(pdef: dg.TimeWindowPartitionsDefinition, start: date, end: date) -> list[str]:
    """Partition keys of `pdef` whose time window overlaps [start, end]."""
    lo = datetime.combine(start, time(), tzinfo=UTC)
    hi = datetime.combine(end + timedelta(days=1), time(), tzinfo=UTC)
    keys = []
    for window in pdef.get_partition_keys_in_time_window(
        dg.TimeWindow(lo - timedelta(days=366), hi)
    ):
        tw = pdef.time_window_for_partition_key(window)
        if tw.end > lo and tw.start < hi:
            keys.append(window)
    if not keys:
        # A coarse partition (month, year) may not be complete inside a short window yet:
        # take the latest complete one so every asset of the graph is materialized.
        last = pdef.get_last_partition_key()
        if last is not None:
            keys.append(last)
    return keys


UPKEEP_TAG = "spotify_assets/upkeep"


def _is_upkeep(graph, node: tuple[dg.AssetKey, ...]) -> bool:
    return UPKEEP_TAG in (graph.get(node[0]).tags or {})


def _ordered_nodes(defs: dg.Definitions) -> list[tuple[dg.AssetKey, ...]]:
    """The materializable assets definitions (all keys of one op together) in dependency order,
    ties broken by name so the plan is stable."""
    graph = defs.resolve_asset_graph()
    owner: dict[dg.AssetKey, tuple[dg.AssetKey, ...]] = {}
    for key in graph.materializable_asset_keys:
        keys = tuple(sorted(graph.get(key).execution_set_asset_keys))
        for member in keys:
            owner[member] = keys
    nodes = sorted(set(owner.values()))
    needs = {
        node: {
            owner[parent]
            for key in node
            for parent in graph.get(key).parent_keys
            if parent in owner and owner[parent] != node
        }
        for node in nodes
    }
    ordered: list[tuple[dg.AssetKey, ...]] = []
    last_pdef: object = None
    while needs:
        ready = sorted(n for n, deps in needs.items() if not deps)
        if not ready:
            raise ValueError("the asset graph has a cycle")
        # Upkeep (housekeeping) runs after everything it describes.
        ready = [n for n in ready if not _is_upkeep(graph, n)] or ready
        # Prefer a node partitioned like the previous one: fewer, longer runs.
        same = [n for n in ready if graph.get(n[0]).partitions_def == last_pdef]
        node = (same or ready)[0]
        last_pdef = graph.get(node[0]).partitions_def
        ordered.append(node)
        del needs[node]
        for deps in needs.values():
            deps.discard(node)
    return ordered


def plan(defs: dg.Definitions, start: date, end: date) -> list[Step]:
    graph = defs.resolve_asset_graph()
    steps: list[Step] = []
    group: list[dg.AssetKey] = []
    group_pdef: object = None

    def flush() -> None:
        if not group:
            return
        if group_pdef is None:
            steps.append(Step(tuple(group), None))
        elif isinstance(group_pdef, dg.TimeWindowPartitionsDefinition):
            keys = _window_keys(group_pdef, start, end)
            if keys:
                steps.append(Step(tuple(group), (keys[0], keys[-1])))
        else:
            raise TypeError(f"no demo plan for partitions {group_pdef!r} of {group}")
        group.clear()

    # An op (a multi-asset's keys) always runs whole, in one run: Dagster cannot split it.
    for node in _ordered_nodes(defs):
        pdef = graph.get(node[0]).partitions_def
        if pdef != group_pdef:
            flush()
            group_pdef = pdef
        group.extend(node)
    flush()
    return steps


def job_of(defs: dg.Definitions) -> dict[dg.AssetKey, str]:
    """The named job each asset belongs to (the first job that selects it)."""
    owner: dict[dg.AssetKey, str] = {}
    for job in defs.jobs or []:
        if hasattr(job, "selection"):  # an asset job (`define_asset_job`), not an op job
            for key in defs.resolve_job_def(job.name).asset_layer.selected_asset_keys:
                owner.setdefault(key, job.name)
    return owner


def split_by_job(
    defs: dg.Definitions, keys: tuple[dg.AssetKey, ...]
) -> list[tuple[str | None, list[dg.AssetKey]]]:
    """A step's keys (in dependency order) as runs of one named job each, in an order that
    keeps every dependency inside the step satisfied (None: keys no job selects)."""
    owner = job_of(defs)
    groups: dict[str | None, list[dg.AssetKey]] = {}
    for key in keys:
        groups.setdefault(owner.get(key), []).append(key)
    graph = defs.resolve_asset_graph()
    group_of = {key: name for name, members in groups.items() for key in members}
    needs = {
        name: {
            group_of[parent]
            for key in members
            for parent in graph.get(key).parent_keys
            if parent in group_of and group_of[parent] != name
        }
        for name, members in groups.items()
    }
    ordered: list[tuple[str | None, list[dg.AssetKey]]] = []
    while needs:
        ready = [name for name in groups if name in needs and not needs[name]]
        if not ready:  # two jobs that feed each other within one step: run it as it is
            return [(None, list(keys))]
        ordered.append((ready[0], groups[ready[0]]))
        del needs[ready[0]]
        for deps in needs.values():
            deps.discard(ready[0])
    return ordered


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
    print(f"\nwarehouse: {summary.path.resolve()}")
    print(f"lake:      {settings.lake_dir.resolve()}")
    # The DuckDB CLI installed beside us (duckdb-cli), not whichever `duckdb` is on PATH.
    shell = Path(sys.executable).with_name("duckdb")
    print(
        f"open it:   cd {summary.path.resolve().parent} && {shell} -readonly {summary.path.name}"
        "  (its lake paths are relative to that folder; or `spotify-assets sql`)"
    )
