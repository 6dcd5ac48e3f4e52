"""What is rising among our users, week over week (no Spotify endpoint gives it any more)."""

from datetime import date

import dagster as dg
import pyarrow as pa

from spotify_assets.defs.listening.tables import PLAYS
from spotify_assets.defs.partitions import weekly
from spotify_assets.defs.releases.common import GROUP, WEEK, run_sql, week_bounds, weeks_in
from spotify_assets.defs.releases.tables import TRENDING_ARTISTS
from spotify_assets.defs.resources import Warehouse

# One person is not a trend: at least this many distinct listeners in the week.
MIN_LISTENERS = 2
# A listener adds at most this many minutes to an artist's or track's growth measure.
CAP_MINUTES = 60.0


def trending_rows(warehouse: Warehouse, week: date) -> pa.Table:
    start, end = week_bounds(week)
    # By time, never by the plays table's partitions: its layout is not ours to know.
    plays = warehouse.scan(PLAYS, "started_at >= ? and started_at < ?", [start - WEEK, end])
    params = pa.table({
        "week": pa.array([week], pa.date32()),
        "week_start": pa.array([start], pa.timestamp("ms", tz="UTC")),
        "min_listeners": [MIN_LISTENERS],
        "cap_minutes": [CAP_MINUTES],
    })
    return run_sql("trending_artists.sql", tables={"plays": plays, "params": params})


@dg.asset(
    partitions_def=weekly,
    group_name=GROUP,
    kinds={"parquet"},
    deps=["plays"],
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def trending_artists(
    context: dg.AssetExecutionContext, warehouse: dg.ResourceParam[Warehouse]
) -> dg.MaterializeResult:
    """One row per artist or track rising week over week across all users' plays (listeners
    and minutes against the week before; at least 2 listeners, minutes capped at 60 per
    listener, so one binge is not a trend). From `plays` by start time; no requests."""
    counts: dict[str, int] = {}
    top: dict[str, list[str]] = {}
    for week in weeks_in(context.partition_time_window):
        table = trending_rows(warehouse, week)
        warehouse.write(TRENDING_ARTISTS, table, week.isoformat())
        counts[week.isoformat()] = table.num_rows
        top[week.isoformat()] = [
            r["name"] for r in table.to_pylist() if r["entity"] == "artist" and r["rank"] <= 5
        ]
    warehouse.publish()
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": sum(counts.values()),
            "rows_by_week": dg.MetadataValue.json(counts),
            "top_artists_by_week": dg.MetadataValue.json(top),
        }
    )
