"""Imports and late polls reach the stats at once, and a refresh that did not finish is redone.

Every import and poll marks the UTC days whose plays it changed as stale, in the same lake
commit as its data (see `history.py`). `stale_days_sensor` turns the stale days into as few runs
as possible: the months of those days (+/- 1 day), in contiguous month ranges, one run each,
leaving out months a refresh already queued or running covers. Days stay stale until a refresh
that claimed them succeeds (`history_settled_sensor`), so a refresh cut off (a crash, a killed
worker, a stopped deployment) is simply requested again: nothing depends on a sensor cursor
having seen the change. Once a range run has succeeded, `stats_after_refresh_sensor`
refreshes the all-history tables and the tops as of the latest day: started together with the
range runs they would read `plays` before the import's days are in it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import dagster as dg

from spotify_assets.defs.listening.history import (
    HISTORY_ASSETS,
    ONE_DAY,
    REFRESH_TAG,
    STALE_SCOPE,
    claim_ids,
    claimable,
)
from spotify_assets.defs.partitions import daily, monthly
from spotify_assets.defs.tops.schedules import tops_from_plays_job
from spotify_assets.lib.lake import Manifest
from spotify_assets.lib.orchestrate import RANGE_END_TAG, RANGE_START_TAG

ALL_HISTORY_ASSETS = ["listening_heatmap"]
# A refresh whose run failed is requested again after this long (Dagster's own run retries,
# `dagster/max_retries`, act sooner): a refresh that fails every time must not loop hot.
RETRY_AFTER = timedelta(minutes=10)
IN_FLIGHT = [
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]

REFRESH_RETRIES = 2
listening_refresh_job = dg.define_asset_job(
    "listening_refresh_job",
    selection=dg.AssetSelection.assets(*HISTORY_ASSETS),
    tags={"dagster/max_retries": str(REFRESH_RETRIES)},
)
listening_totals_job = dg.define_asset_job(
    "listening_totals_job", selection=dg.AssetSelection.assets(*ALL_HISTORY_ASSETS)
)


def month_of(day: date) -> date:
    return day.replace(day=1)


def _next_month(month: date) -> date:
    return (month + timedelta(days=32)).replace(day=1)


def month_ranges(months: set[date]) -> list[tuple[str, str]]:
    """Contiguous ranges of months, as (first, last) partition keys."""
    ranges: list[list[date]] = []
    for month in sorted(months):
        if ranges and _next_month(ranges[-1][1]) == month:
            ranges[-1][1] = month
        else:
            ranges.append([month, month])
    return [(a.isoformat(), b.isoformat()) for a, b in ranges]


def _months_around(day: str) -> set[date]:
    return {month_of(date.fromisoformat(day) + k * ONE_DAY) for k in (-1, 0, 1)}


def _run_months(run: dg.DagsterRun) -> set[date]:
    start, end = run.tags.get(RANGE_START_TAG), run.tags.get(RANGE_END_TAG)
    return _run_months_of(start, end) if start and end else set()


def refresh_requests(
    instance: dg.DagsterInstance, manifest: Manifest, now: datetime, *, cool_down: bool = True
) -> tuple[list[dg.RunRequest], str]:
    """Refreshes of the stale days no refresh is working on, each one's days claimed under its
    own id; and what was decided, in words.

    A stale day needs the months of the day before, itself and the day after; it waits while a
    refresh in flight holds any of them (that refresh may have read it before it changed), and
    (`cool_down`, for the sensor) for a while after a refresh of them failed.
    """
    stale = manifest.stale(STALE_SCOPE)
    keys = monthly.get_partition_keys()
    first, last = date.fromisoformat(keys[0]), date.fromisoformat(keys[-1])
    busy: set[date] = set()
    cooling: set[date] = set()
    runs = instance.get_runs(
        filters=dg.RunsFilter(job_name=listening_refresh_job.name), limit=200
    )
    for run in runs:
        months = _run_months(run)
        if run.status in IN_FLIGHT:
            busy |= months
        elif cool_down and run.status in (
            dg.DagsterRunStatus.FAILURE,
            dg.DagsterRunStatus.CANCELED,
        ):
            record = instance.get_run_record_by_id(run.run_id)
            ended = record.end_time if record else None
            if ended and now.timestamp() - ended < RETRY_AFTER.total_seconds():
                cooling |= months
    todo: set[date] = set()
    waiting = 0
    for day in stale:
        months = {m for m in _months_around(day) if first <= m <= last}
        if months & (busy | cooling):
            waiting += 1
        else:
            todo |= months
    requests = []
    for start, end in month_ranges(todo):
        refresh_id = f"refresh-{uuid.uuid4().hex[:12]}"
        covered = _run_months_of(start, end)
        manifest.claim(refresh_id, STALE_SCOPE, claimable(stale, covered))
        requests.append(
            dg.RunRequest(
                job_name=listening_refresh_job.name,
                tags={RANGE_START_TAG: start, RANGE_END_TAG: end, REFRESH_TAG: refresh_id},
            )
        )
    note = (
        f"{len(stale)} stale day(s): {len(requests)} refresh run(s) over {len(todo)} month(s); "
        f"{waiting} day(s) wait for a refresh in flight or after a failed one"
    )
    return requests, note


def _run_months_of(start: str, end: str) -> set[date]:
    months, month = set(), date.fromisoformat(start)
    while month <= date.fromisoformat(end):
        months.add(month)
        month = _next_month(month)
    return months


@dg.sensor(
    jobs=[listening_refresh_job],
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def stale_days_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    """Refreshes the months whose plays an import or a poll changed (until a refresh succeeds)."""
    from spotify_assets.defs.pools import POOL_LIMITS
    from spotify_assets.defs.resources import Warehouse
    from spotify_assets.lib.instance import ensure_pool_limits
    from spotify_assets.lib.settings import get_settings

    ensure_pool_limits(context.instance, POOL_LIMITS)  # before this deployment's first run
    manifest = Warehouse(get_settings()).lake.manifest
    if not manifest.stale(STALE_SCOPE):
        return dg.SensorResult(skip_reason="no stale days")
    requests, note = refresh_requests(context.instance, manifest, datetime.now(UTC))
    if not requests:
        return dg.SensorResult(skip_reason=note)
    context.log.info(note)
    return dg.SensorResult(run_requests=requests)


def stats_requests(run_key: str) -> list[dg.RunRequest]:
    """The all-history tables, and the tops "as of" the latest day (they include every older
    play: all_time, this_year...), after a refresh of some days."""
    return [
        dg.RunRequest(run_key=f"{run_key}:totals", job_name=listening_totals_job.name),
        dg.RunRequest(
            run_key=f"{run_key}:tops",
            job_name=tops_from_plays_job.name,
            partition_key=daily.get_last_partition_key(),
        ),
    ]


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[listening_refresh_job],
    request_jobs=[listening_totals_job, tops_from_plays_job],
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def stats_after_refresh_sensor(context: dg.RunStatusSensorContext):
    """Refreshes the heatmap and today's tops once a range of months has been refreshed."""
    return stats_requests(run_key=context.dagster_run.run_id)


def settle(run: dg.DagsterRun, manifest: Manifest) -> int:
    """Days a successful run refreshed are fresh now (unless changed again since)."""
    return sum(manifest.settle(i, succeeded=True) for i in claim_ids(run))


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    minimum_interval_seconds=15,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def history_settled_sensor(context: dg.RunStatusSensorContext) -> dg.SkipReason:
    """Clears the stale marks a successful run refreshed (any run: the refresh job, the UI's
    Materialize, a backfill)."""
    from spotify_assets.defs.resources import Warehouse
    from spotify_assets.lib.settings import get_settings

    fresh = settle(context.dagster_run, Warehouse(get_settings()).lake.manifest)
    return dg.SkipReason(f"{fresh} stale day(s) refreshed")
