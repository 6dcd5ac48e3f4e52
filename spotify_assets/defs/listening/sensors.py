"""Imports and late polls reach the stats at once: re-materialize exactly the changed days.

Each `exported_plays` / `polled_plays` materialization records the UTC days whose plays it
changed (`changed_days`). `plays_changed_sensor` turns them into as few runs as possible:
contiguous ranges of days, each one run over a partition range (single-run backfill policy),
widened by one day on each side because a user's local day spans up to three UTC days. Once a
range run has succeeded, `stats_after_refresh_sensor` refreshes the all-history tables and the
tops as of the latest day: started together with the range runs they would read `plays` before
the import's days are in it (a 6.7-year import's tops and heatmap showed only the last weeks).
"""

from datetime import date, timedelta

import dagster as dg

from spotify_assets.defs.partitions import daily
from spotify_assets.defs.tops.schedules import tops_from_plays_job
from spotify_assets.lib.orchestrate import RANGE_END_TAG, RANGE_START_TAG

DAILY_ASSETS = [
    "plays",
    "episode_plays",
    "daily_listening",
    "listening_sessions",
    "listening_coverage",
]
ALL_HISTORY_ASSETS = ["listening_heatmap"]

# The sensor's cursor has moved past the change by the time its refresh runs: a refresh cut off
# (stopped deployment, crash) would leave those days stale for good, so it is retried (with
# `run_retries: enabled` in dagster.yaml, as the demo writes it).
REFRESH_RETRIES = 2
listening_refresh_job = dg.define_asset_job(
    "listening_refresh_job",
    selection=dg.AssetSelection.assets(*DAILY_ASSETS),
    tags={"dagster/max_retries": str(REFRESH_RETRIES)},
)
listening_totals_job = dg.define_asset_job(
    "listening_totals_job", selection=dg.AssetSelection.assets(*ALL_HISTORY_ASSETS)
)


def day_ranges(days: set[str], first: str, last: str) -> list[tuple[str, str]]:
    """Contiguous ranges covering `days` +/- 1 day, clamped to [first, last]."""
    lo, hi = date.fromisoformat(first), date.fromisoformat(last)
    widened = sorted(
        {
            d + timedelta(days=k)
            for d in map(date.fromisoformat, days)
            for k in (-1, 0, 1)
            if lo <= d + timedelta(days=k) <= hi
        }
    )
    ranges: list[list[date]] = []
    for d in widened:
        if ranges and d - ranges[-1][1] <= timedelta(days=1):
            ranges[-1][1] = d
        else:
            ranges.append([d, d])
    return [(a.isoformat(), b.isoformat()) for a, b in ranges]


def refresh_requests(days: set[str], run_key: str) -> list[dg.RunRequest]:
    keys = daily.get_partition_keys()
    requests = [
        dg.RunRequest(
            run_key=f"{run_key}:{start}:{end}",
            job_name=listening_refresh_job.name,
            tags={RANGE_START_TAG: start, RANGE_END_TAG: end},
        )
        for start, end in day_ranges(days, keys[0], keys[-1])
    ]
    return requests


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


@dg.multi_asset_sensor(
    monitored_assets=[dg.AssetKey("exported_plays"), dg.AssetKey("polled_plays")],
    jobs=[listening_refresh_job],
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def plays_changed_sensor(context: dg.MultiAssetSensorEvaluationContext):
    """Re-materializes the day partitions whose plays an import or a poll changed."""
    days: set[str] = set()
    last_ids = []
    for key in context.asset_keys:
        records = context.materialization_records_for_key(key, limit=1000)
        for record in records:
            materialization = record.asset_materialization
            changed = materialization.metadata.get("changed_days") if materialization else None
            if changed is not None:
                days.update(changed.value)
            last_ids.append(record.storage_id)
        if records:
            context.advance_cursor({key: records[-1]})
    if not days:
        return dg.SkipReason("no plays changed")
    return refresh_requests(days, run_key=str(max(last_ids)))


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[listening_refresh_job],
    request_jobs=[listening_totals_job, tops_from_plays_job],
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def stats_after_refresh_sensor(context: dg.RunStatusSensorContext):
    """Refreshes the heatmap and today's tops once a range of days has been re-materialized."""
    return stats_requests(run_key=context.dagster_run.run_id)
