"""`plays`: every source merged into one row per play, per UTC day; `episode_plays` likewise.

Both are month partitions of day files (see `history.py` for which days a run rewrites).
"""

import re
from datetime import datetime, timedelta

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc

from spotify_assets.defs.listening.history import (
    history_asset_kwargs,
    logged_ranges,
    logs_progress,
    month_metadata,
    nothing_to_rewrite,
    plan_refresh,
    write_days,
)
from spotify_assets.defs.listening.tables import EPISODE_PLAYS, EXPORTED_PLAYS, PLAYS, POLLED_PLAYS
from spotify_assets.defs.resources import Warehouse
from spotify_assets.lib.dedupe import EXPORT_COLUMNS, MIN_PLAY_MS, merge_plays

# Inputs are read this far beyond the days rewritten: a play is filed under its start day, but
# its observations carry its stop time, and matching looks a minute or so around it.
MARGIN = timedelta(days=1)
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _count_sources(sources: pa.ChunkedArray) -> dict[str, int]:
    """Plays per combination of sources, e.g. {"export_extended+poll": 12}."""
    counts = pc.value_counts(pc.binary_join(sources, "+")).to_pylist()
    return {c["values"]: c["counts"] for c in counts if c["values"] is not None}


def polled_partitions(warehouse: Warehouse, lo: datetime, hi: datetime) -> list[str]:
    """`polled_plays` partitions that can hold a play of [lo, hi): each is one user's UTC day of
    `played_at` (`<user>/<day>`), so a range reads its own days' files rather than every
    user's every day (a key without a day is read anyway)."""
    first, last = lo.date().isoformat(), hi.date().isoformat()
    keys = []
    for key in warehouse.partitions(POLLED_PLAYS):
        day = next((s for s in key.split("/") if _DAY.fullmatch(s)), None)
        if day is None or first <= day <= last:
            keys.append(key)
    return keys


@dg.asset(**history_asset_kwargs("plays", deps=["polled_plays", "exported_plays"]))
@logs_progress
def plays(
    context: dg.AssetExecutionContext, warehouse: dg.ResourceParam[Warehouse]
) -> dg.MaterializeResult:
    """One row per play of a track (>= 30 s) by any user, from polling and every export format,
    without duplicates (rule: lib/dedupe.py). Partition: the month (UTC) the play started; one
    file per UTC day."""
    plan = plan_refresh(context, warehouse)
    if not plan.days:
        return nothing_to_rewrite(context, warehouse, PLAYS, plan)
    parts = []
    for first, end in logged_ranges(context, plan):
        lo, hi = plan.bounds(first, end, MARGIN)
        # Short rows never become plays (merge_plays drops them too): not reading them halves
        # a typical extended history.
        exported = warehouse.scan(
            EXPORTED_PLAYS,
            f"content_type = 'track' and ms_played >= {MIN_PLAY_MS} "
            "and ended_at >= ? and ended_at < ?",
            [lo, hi],
            columns=EXPORT_COLUMNS,
        )
        polled = warehouse.scan(
            POLLED_PLAYS,
            "played_at >= ? and played_at < ?",
            [lo, hi],
            partitions=polled_partitions(warehouse, lo, hi),
        )
        merged = merge_plays(exported, polled)
        start, stop = plan.bounds(first, end, timedelta(0))
        started = merged["started_at"]
        inside = pc.and_(
            pc.greater_equal(started, pa.scalar(start, started.type)),
            pc.less(started, pa.scalar(stop, started.type)),
        )
        # Often every row is (a history with no plays in the margins): no copy then.
        parts.append(merged if pc.all(inside).as_py() else merged.filter(inside))
    plays_in_range = pa.concat_tables(parts)
    write_days(warehouse, PLAYS, plays_in_range, plan, "day")
    warehouse.publish()
    month_metadata(context, warehouse, PLAYS, plan)
    estimated = pc.mean(pc.cast(plays_in_range["listened_ms_estimated"], pa.int8())).as_py()
    return dg.MaterializeResult(
        metadata={
            "plays_rewritten": plays_in_range.num_rows,
            "plays_by_sources": dg.MetadataValue.json(_count_sources(plays_in_range["sources"])),
            "estimated_minutes_share": round(float(estimated or 0.0), 4),
        }
    )


@dg.asset(**history_asset_kwargs("episode_plays", deps=["exported_plays"]))
@logs_progress
def episode_plays(
    context: dg.AssetExecutionContext, warehouse: dg.ResourceParam[Warehouse]
) -> dg.MaterializeResult:
    """One row per play of a podcast episode, audiobook chapter or video, from exports (the
    Web API's recently-played has no episodes). Partition: the month (UTC) the play started;
    one file per UTC day."""
    import pandas as pd

    plan = plan_refresh(context, warehouse)
    if not plan.days:
        return nothing_to_rewrite(context, warehouse, EPISODE_PLAYS, plan)
    parts = []
    for first, end in logged_ranges(context, plan):
        lo, hi = plan.bounds(first, end, MARGIN)
        rows = warehouse.scan(
            EXPORTED_PLAYS,
            "content_type in ('episode', 'audiobook', 'video') and ended_at >= ? and ended_at < ?",
            [lo, hi],
        ).to_pandas()
        rows = rows.drop_duplicates(
            [
                "user_id",
                "ended_at",
                "content_type",
                "episode_uri",
                "episode_name",
                "chapter_uri",
                "audiobook_title",
                "ms_played",
            ]
        )
        rows["started_at"] = rows["ended_at"] - pd.to_timedelta(rows["ms_played"], unit="ms")
        rows["day"] = rows["started_at"].dt.date
        start, stop = plan.bounds(first, end, timedelta(0))
        parts.append(rows[(rows["started_at"] >= start) & (rows["started_at"] < stop)])
    out = pd.concat(parts, ignore_index=True)[EPISODE_PLAYS.column_names]
    write_days(warehouse, EPISODE_PLAYS, out, plan, "day")
    warehouse.publish()
    month_metadata(context, warehouse, EPISODE_PLAYS, plan)
    return dg.MaterializeResult(metadata={"episodes_rewritten": len(out)})
