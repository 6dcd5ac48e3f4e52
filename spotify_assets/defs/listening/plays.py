"""`plays`: every source merged into one row per play, per UTC day."""

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

import dagster as dg

from spotify_assets.defs.listening.tables import EPISODE_PLAYS, EXPORTED_PLAYS, PLAYS, POLLED_PLAYS
from spotify_assets.defs.partitions import daily
from spotify_assets.defs.resources import Warehouse

if TYPE_CHECKING:
    import pandas as pd


def day_pool(asset_name: str) -> str:
    """The concurrency pool of an asset that rewrites day partitions of a listening table.

    With every pool at limit 1 (`concurrency: pools: default_limit: 1` in dagster.yaml, as the
    demo writes it), two refresh runs over overlapping days take turns on each asset, so the
    later step always reads what the earlier one wrote: without it, a run that read `plays`
    inputs before a concurrent poll published, and wrote after that poll's refresh, would put
    back a day file without the polled play. One pool per asset, not one for all: inside a
    run, different assets still run side by side.
    """
    return f"days_{asset_name}"


# Inputs are read this far beyond the partition window: a play is filed under its start day,
# but its observations carry its stop time, and matching looks a minute or so around it.
MARGIN = timedelta(days=1)


def days_in(window: dg.TimeWindow) -> list[date]:
    day, days = window.start.date(), []
    while day < window.end.date():
        days.append(day)
        day += timedelta(days=1)
    return days


def write_days(
    warehouse: Warehouse, spec, frame: "pd.DataFrame", days: list[date], day_column: str
) -> dict[str, int]:
    """Write one partition per day of the window (empty days too: the partition is replaced)."""
    return warehouse.write_partitions(
        spec, frame, day_column, [day.isoformat() for day in days]
    )


def _count_sources(sources: "pd.Series") -> dict[str, int]:
    """Plays per combination of sources, e.g. {"export_extended+poll": 12}."""
    import pyarrow as pa
    import pyarrow.compute as pc

    joined = pc.binary_join(pa.array(sources, pa.list_(pa.string())), "+")
    counts = pc.value_counts(joined).to_pylist()
    return {c["values"]: c["counts"] for c in counts if c["values"] is not None}


def _window_bounds(window: dg.TimeWindow) -> tuple[datetime, datetime]:
    return window.start - MARGIN, window.end + MARGIN


@dg.asset(
    group_name="listening",
    partitions_def=daily,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=["polled_plays", "exported_plays"],
    kinds={"duckdb", "parquet"},
    pool=day_pool("plays"),
)
def plays(
    context: dg.AssetExecutionContext, warehouse: dg.ResourceParam[Warehouse]
) -> dg.MaterializeResult:
    """One row per play of a track (>= 30 s) by any user, from polling and every export format,
    without duplicates (rule: lib/dedupe.py). Partition: the UTC day the play started."""
    # Imported here, not at load: the definitions load without pandas (load time).
    from spotify_assets.lib.dedupe import MIN_PLAY_MS, PLAY_COLUMNS, merge_plays

    window = context.partition_time_window
    lo, hi = _window_bounds(window)
    # Short rows never become plays (merge_plays drops them too): not reading them halves a
    # typical extended history.
    exported = warehouse.scan(
        EXPORTED_PLAYS,
        f"content_type = 'track' and ms_played >= {MIN_PLAY_MS} and ended_at >= ? and ended_at < ?",
        [lo, hi],
    ).to_pandas()
    polled = warehouse.scan(POLLED_PLAYS, "played_at >= ? and played_at < ?", [lo, hi]).to_pandas()
    merged = merge_plays(exported, polled)
    inside = merged[(merged["started_at"] >= window.start) & (merged["started_at"] < window.end)]
    counts = write_days(warehouse, PLAYS, inside[PLAY_COLUMNS], days_in(window), "day")
    warehouse.publish()
    sources = _count_sources(inside["sources"])
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(inside),
            "partitions": len(counts),
            "plays_by_sources": dg.MetadataValue.json(sources),
            "estimated_minutes_share": float(
                inside["listened_ms_estimated"].mean() if len(inside) else 0.0
            ),
        }
    )


@dg.asset(
    group_name="listening",
    partitions_def=daily,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=["exported_plays"],
    kinds={"duckdb", "parquet"},
    pool=day_pool("episode_plays"),
)
def episode_plays(
    context: dg.AssetExecutionContext, warehouse: dg.ResourceParam[Warehouse]
) -> dg.MaterializeResult:
    """One row per play of a podcast episode, audiobook chapter or video, from exports (the
    Web API's recently-played has no episodes). Partition: the UTC day the play started."""
    import pandas as pd

    window = context.partition_time_window
    lo, hi = _window_bounds(window)
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
    inside = rows[(rows["started_at"] >= window.start) & (rows["started_at"] < window.end)]
    out = inside[EPISODE_PLAYS.column_names]
    counts = write_days(warehouse, EPISODE_PLAYS, out, days_in(window), "day")
    warehouse.publish()
    return dg.MaterializeResult(metadata={"dagster/row_count": len(out), "partitions": len(counts)})
