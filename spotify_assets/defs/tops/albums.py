"""Top albums derived from a user's top tracks (Spotify has no top-albums endpoint)."""

import dagster as dg
import pyarrow as pa

from spotify_assets.defs.partitions import daily
from spotify_assets.defs.previews import listeners_top_chart
from spotify_assets.defs.resources import Warehouse
from spotify_assets.defs.tops.common import (
    LakeView,
    files_of_day,
    run_sql,
    window_days,
)
from spotify_assets.defs.tops.tables import TOP_ALBUMS, TOP_TRACKS

TOP_ALBUMS_KEPT = 5


@dg.asset(
    group_name="tops",
    partitions_def=daily,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=["top_tracks"],
    kinds={"duckdb", "parquet"},
)
def top_albums(
    context: dg.AssetExecutionContext, warehouse: dg.ResourceParam[Warehouse]
) -> dg.MaterializeResult:
    """One row per album among a user's top 5 albums per time range, derived from the day's
    top-tracks snapshot. Partition: the snapshot date.

    The tracks of one list are grouped by album. Singles are skipped: album_type 'single', or
    fewer than 2 of the album's tracks in the list (one hit does not make a top album).
    Score:
    - `popularity`: the sum of the album's tracks' popularity, when the list carries
      popularity (apps with extended quota);
    - `rank_fallback`: Spotify removed `popularity` for development-mode apps in 2026, so
      otherwise each track scores 51 - rank (#1 = 50 points, #50 = 1) and the album the sum:
      the more of its tracks, and the higher they rank, the better.
    Ties go to the album with the best-ranked track. Column `scoring` says which score a list
    used (the whole list uses one).
    """
    counts: dict[str, int] = {}
    scoring: dict[str, int] = {}
    last: list[dict] = []
    for day in window_days(context):
        tracks = LakeView(TOP_TRACKS, files_of_day(warehouse, TOP_TRACKS, day))
        rows = run_sql(
            "top_albums.sql",
            views={"tracks": tracks},
            tables={"params": pa.table({"top_n": [TOP_ALBUMS_KEPT]})},
        )
        counts[day.isoformat()] = warehouse.write(TOP_ALBUMS, rows, day.isoformat()).rows
        last = rows.to_pylist()
        for row in last:
            scoring[row["scoring"]] = scoring.get(row["scoring"], 0) + 1
    warehouse.publish()
    for row in last:
        row["label"] = str(row["album_name"])
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": sum(counts.values()),
            "rows_by_day": dg.MetadataValue.json(counts),
            "scoring": dg.MetadataValue.json(scoring),
            **listeners_top_chart(
                [r for r in last if r["time_range"] == "short_term"],
                "label",
                title=f"Short-term top albums on {max(counts)}, by listeners",
            ),
        }
    )
