"""What the five history tables share: month partitions over day files, and which days a run
rewrites.

`plays`, `episode_plays`, `daily_listening`, `listening_sessions` and `listening_coverage` are
Dagster assets partitioned by calendar month (Dagster records two events per partition per
asset a run touches: a decade's import is ~400 of them at this grain, ~24,000 by day), while the
lake keeps one file per day inside each month, so a poll still rewrites only the days it changed.

Which days a run rewrites:
- **stale mode** (the run tag `spotify_assets/refresh` names a refresh, as `stale_days_sensor`
  and `spotify-assets import` request them): every import and poll marks the UTC days whose
  plays it changed as stale, in the same lake commit as its data. A refresh request *claims*
  the stale days its months cover (recording their versions), and every history asset of the
  run rewrites those days +/- 1 (a play is filed by its start, observed by its stop, and a local
  day spans up to three UTC days). A successful run clears what it claimed, unless a newer
  change marked a day again; a failed one leaves the days stale, so they are requested again.
- **full mode** (no tag: the UI's Materialize, a backfill, the demo): every day of the months.
  It claims the stale days whose neighbours are all inside its months, which it makes fresh.
Both give byte-identical day files (tested): a day's rows depend only on the inputs around it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import dagster as dg

from spotify_assets.defs.partitions import monthly
from spotify_assets.defs.resources import Warehouse
from spotify_assets.lib.lake import TableSpec
from spotify_assets.lib.lake.turns import turn
from spotify_assets.lib.progress import Progress, report_every

STALE_SCOPE = "listening"
REFRESH_TAG = "spotify_assets/refresh"
HISTORY_ASSETS = [
    "plays",
    "episode_plays",
    "daily_listening",
    "listening_sessions",
    "listening_coverage",
]
# A local day of a user anywhere from UTC-12 to UTC+14 lies within the UTC days D-1 .. D+1: a
# month of local days needs the plays of the months beside it (for a day or two).
AROUND_MONTH = dg.TimeWindowPartitionMapping(start_offset=-1, end_offset=1)
ONE_DAY = timedelta(days=1)


def day_pool(asset_name: str) -> str:
    """The concurrency pool of an asset that rewrites day files of a history table.

    With every pool at limit 1 (as the instance profiles set it), two refresh runs over
    overlapping days take turns on each asset, so the later step always reads what the earlier
    one wrote: without it, a run that read `plays` inputs before a concurrent poll published,
    and wrote after that poll's refresh, would put back a day file without the polled play.
    One pool per asset, not one for all: inside a run, different assets still run side by side.
    """
    return f"days_{asset_name}"


def history_asset_kwargs(name: str, **extra: object) -> dict:
    return dict(
        group_name="listening",
        partitions_def=monthly,
        backfill_policy=dg.BackfillPolicy.single_run(),
        kinds={"duckdb", "parquet"},
        pool=day_pool(name),
        **extra,
    )


def days_in(window: dg.TimeWindow) -> list[date]:
    day, days = window.start.date(), []
    while day < window.end.date():
        days.append(day)
        day += ONE_DAY
    return days


def ranges_of(days: list[date]) -> list[tuple[date, date]]:
    """Sorted days as contiguous half-open ranges [first, end)."""
    ranges: list[list[date]] = []
    for day in sorted(days):
        if ranges and day == ranges[-1][1]:
            ranges[-1][1] = day + ONE_DAY
        else:
            ranges.append([day, day + ONE_DAY])
    return [(a, b) for a, b in ranges]


@dataclass(frozen=True)
class RefreshPlan:
    """The days of the run's months an asset rewrites, and how it decided."""

    window: dg.TimeWindow
    mode: str  # "stale" | "full"
    days: list[date]

    @property
    def ranges(self) -> list[tuple[date, date]]:
        return ranges_of(self.days)

    def bounds(self, first: date, end: date, margin: timedelta) -> tuple[datetime, datetime]:
        """UTC instants [first - margin, end + margin) of a range, for reading inputs."""
        start = datetime.combine(first, datetime.min.time(), tzinfo=self.window.start.tzinfo)
        stop = datetime.combine(end, datetime.min.time(), tzinfo=self.window.start.tzinfo)
        return start - margin, stop + margin


# The progress of the history asset running in this thread (set by `logs_progress`).
_STEP: ContextVar[Progress | None] = ContextVar("history_step_progress", default=None)


TURN_TAKEN = "turn taken"  # run-log words the concurrency test reads
TURN_DONE = "rewritten in"


def logs_progress(asset_fn: Callable[..., dg.MaterializeResult]) -> Callable[..., object]:
    """A history asset's progress in the run log: a line every few seconds while its step runs
    (which range of days, the day files being written; a decade's refresh is one long range),
    and the days it rewrote at the end; and its turn (`day_pool`): two steps of one history
    asset never run at once, in any process. The computation is the asset's own."""

    @functools.wraps(asset_fn)
    def logged(context: dg.AssetExecutionContext, *args: object, **kwargs: object) -> object:
        name = context.asset_key.to_user_string()
        progress = Progress(name, unit="days")
        warehouse = kwargs["warehouse"]
        assert isinstance(warehouse, Warehouse), "a history asset takes the warehouse resource"
        # The pool orders the runs Dagster sees; the turn makes it hold across processes
        # (Dagster's SQLite slot claim can let two in at the same moment).
        with turn(warehouse.lake.root, day_pool(name), lambda s: context.log.info(
                f"{name}: waiting {s:.0f} s for another refresh of these days")):
            context.log.debug(f"{name}: {TURN_TAKEN}")
            token = _STEP.set(progress)
            try:
                with report_every(progress, context.log.info):
                    result = asset_fn(context, *args, **kwargs)
            finally:
                _STEP.reset(token)
            state = progress.snapshot()
            context.log.info(
                f"{state.what}: {state.total:,.0f} day(s) {TURN_DONE} {state.elapsed_s:.1f} s"
            )
        return result

    return logged


def _stage(stage: str, **fields: object) -> None:
    progress = _STEP.get()
    if progress is not None:
        progress.update(stage=stage, **fields)


def logged_ranges(
    context: dg.AssetExecutionContext, plan: RefreshPlan
) -> Iterator[tuple[date, date]]:
    """The plan's ranges, each named in the step's progress (and logged as it starts when there
    are several). Only logs: the ranges and their order are the plan's."""
    ranges = plan.ranges
    done = 0
    for index, (first, end) in enumerate(ranges, 1):
        _stage(f"range {index}/{len(ranges)}: {first} .. {end - ONE_DAY}", done=float(done))
        progress = _STEP.get()
        if len(ranges) > 1 and progress is not None:
            context.log.info(progress.snapshot().line())
        yield first, end
        done += (end - first).days
    _stage("computed", done=float(done))


def lineage_id(run: dg.DagsterRun) -> str:
    # A retry re-executes only the failed steps, under a new run id: what the first attempt
    # claimed belongs to the root run.
    return run.root_run_id or run.run_id


def claim_ids(run: dg.DagsterRun) -> list[str]:
    """The ids a run's claims are recorded under: its refresh request, or its lineage."""
    return [i for i in (run.tags.get(REFRESH_TAG), lineage_id(run)) if i]


def claimable(stale: Mapping[str, int], months: set[date]) -> list[str]:
    """Stale days a refresh of `months` makes fresh: those whose day before and after are in
    them too (the rest need a month a refresh of these does not rewrite)."""
    return [
        key
        for key in stale
        if all(
            (date.fromisoformat(key) + k * ONE_DAY).replace(day=1) in months for k in (-1, 0, 1)
        )
    ]


def plan_refresh(context: dg.AssetExecutionContext, warehouse: Warehouse) -> RefreshPlan:
    """The days this asset rewrites in this run (see the module docstring)."""
    window = context.partition_time_window
    in_window = days_in(window)
    manifest = warehouse.lake.manifest
    refresh_id = context.run.tags.get(REFRESH_TAG)
    if refresh_id is None:
        months = {day.replace(day=1) for day in in_window}
        stale = manifest.stale(STALE_SCOPE)
        manifest.claim(lineage_id(context.run), STALE_SCOPE, claimable(stale, months))
        _stage("planned", total=float(len(in_window)) or None)
        return RefreshPlan(window, "full", in_window)
    claimed = {date.fromisoformat(k) for k in manifest.claimed(refresh_id, STALE_SCOPE)}
    wanted = {d + k * ONE_DAY for d in claimed for k in (-1, 0, 1)}
    plan = RefreshPlan(window, "stale", sorted(wanted & set(in_window)))
    _stage("planned", total=float(len(plan.days)) or None)
    return plan


def month_metadata(
    context: dg.AssetExecutionContext,
    warehouse: Warehouse,
    spec: TableSpec,
    plan: RefreshPlan,
    extra: Mapping[str, Mapping[str, object]] | None = None,
) -> None:
    """Per month partition: its own row count (every day file of the month, rewritten or
    not) and which days this run rewrote, so an incremental touch of a month is visible."""
    _stage(f"recording {len(context.partition_keys)} month partition(s)")
    rows_by_month: dict[str, int] = {}
    for entry in warehouse.lake.entries(spec.name):
        rows_by_month[entry.partition[:7]] = rows_by_month.get(entry.partition[:7], 0) + entry.rows
    rewritten: dict[str, list[str]] = {}
    for day in plan.days:
        rewritten.setdefault(day.isoformat()[:7], []).append(day.isoformat())
    for key in context.partition_keys:
        month = key[:7]
        days = rewritten.get(month, [])
        metadata: dict[str, object] = {
            "dagster/row_count": rows_by_month.get(month, 0),
            "refresh_mode": plan.mode,
            "days_rewritten": len(days),
            "days": _day_list(days),
            **(extra or {}).get(key, {}),
        }
        context.add_asset_metadata(metadata, partition_key=key)


def nothing_to_rewrite(
    context: dg.AssetExecutionContext, warehouse: Warehouse, spec: TableSpec, plan: RefreshPlan
) -> dg.MaterializeResult:
    """A stale-mode run whose days another run already refreshed: its months are current."""
    month_metadata(context, warehouse, spec, plan)
    return dg.MaterializeResult(metadata={"days_rewritten": 0})


def _day_list(days: list[str]) -> str:
    """'2026-01-03 .. 2026-01-05, 2026-01-09' (runs of consecutive days shortened)."""
    parts = []
    for first, end in ranges_of([date.fromisoformat(d) for d in days]):
        last = end - ONE_DAY
        parts.append(first.isoformat() if first == last else f"{first} .. {last}")
    return ", ".join(parts) or "none"


def write_days(
    warehouse: Warehouse, spec: TableSpec, frame: object, plan: RefreshPlan, day_column: str
) -> dict[str, int]:
    """Replace the plan's day files (one commit): days without rows lose their file."""
    _stage(f"writing {len(plan.days):,} day file(s)")
    return warehouse.write_partitions(
        spec, frame, day_column, [day.isoformat() for day in plan.days]
    )
