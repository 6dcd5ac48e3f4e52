"""How the whole graph is run over a date window (the plan), and the tags its runs carry.

`spotify_assets/materialize.py` executes the plan for the demo and end-to-end tests. Assets are
taken in topological order and grouped by partitions definition; each group runs as
Dagster runs (a partition range for time-partitioned groups, per the single-run backfill
policy), recorded in the instance so the UI shows them. Each run is one of the named jobs an
operator knows from the sensors and schedules (`import_job`, `listening_refresh_job`, ...),
limited to the group's assets of that job, never Dagster's anonymous `__ephemeral_asset_job__`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import dagster as dg

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
