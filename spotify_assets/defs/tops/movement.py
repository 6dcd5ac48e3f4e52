"""Rank movement of Spotify top lists: each snapshot against the user's previous one."""

from datetime import date

import dagster as dg
import pyarrow as pa

from spotify_assets.defs.partitions import daily
from spotify_assets.defs.resources import Warehouse
from spotify_assets.defs.tops.common import (
    LakeView,
    run_sql,
    snapshot_files,
    window_days,
)
from spotify_assets.defs.tops.tables import (
    TOP_ARTISTS,
    TOP_ARTISTS_MOVEMENT,
    TOP_TRACKS,
    TOP_TRACKS_MOVEMENT,
)
from spotify_assets.lib.lake import TableSpec

ARROWS = {"new": "🆕", "up": "▲", "down": "▼", "same": "=", "dropped": "✖"}


def movement_rows(warehouse: Warehouse, snapshots: TableSpec, item: str, day: date) -> pa.Table:
    """Movement rows of one snapshot day, from every snapshot file up to that day."""
    history = LakeView(
        snapshots,
        snapshot_files(warehouse, snapshots, day),
        f"user_id, time_range, snapshot_date, rank, {item}_id as item_id, {item}_name as item_name",
    )
    result = run_sql(
        "top_movement.sql",
        views={"history": history},
        tables={"params": pa.table({"snapshot_date": pa.array([day], pa.date32())})},
    )
    return result.rename_columns(
        [
            {"item_id": f"{item}_id", "item_name": f"{item}_name"}.get(c, c)
            for c in result.column_names
        ]
    )




def materialize_movement(
    context: dg.AssetExecutionContext,
    warehouse: Warehouse,
    snapshots: TableSpec,
    movement: TableSpec,
    item: str,
) -> dg.MaterializeResult:
    counts: dict[str, int] = {}
    last: list[dict] = []
    for day in window_days(context):
        rows = movement_rows(warehouse, snapshots, item, day)
        counts[day.isoformat()] = warehouse.write(movement, rows, day.isoformat()).rows
        last = [r for r in rows.to_pylist() if r["rank"] is not None]
    warehouse.publish()
    moves: dict[str, int] = {}
    for row in last:
        moves[row["movement"]] = moves.get(row["movement"], 0) + 1
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": sum(counts.values()),
            "rows_by_day": dg.MetadataValue.json(counts),
            "movement_counts": dg.MetadataValue.json(moves),
        }
    )


def _asset_kwargs(upstream: str) -> dict:
    return dict(
        group_name="tops",
        partitions_def=daily,
        backfill_policy=dg.BackfillPolicy.single_run(),
        # Reads every earlier snapshot too (previous one, #1 streak); the direct input is the
        # same day's snapshot.
        deps=[upstream],
        kinds={"duckdb", "parquet"},
    )


@dg.asset(**_asset_kwargs("top_tracks"))
def top_tracks_movement(
    context: dg.AssetExecutionContext, warehouse: dg.ResourceParam[Warehouse]
) -> dg.MaterializeResult:
    """One row per track in a user's top-tracks snapshot of the day, or in their previous
    snapshot of that range and not this one (dropped): previous rank, movement (new, up n,
    down n, same, dropped) and days at #1. Partition: the snapshot date."""
    return materialize_movement(context, warehouse, TOP_TRACKS, TOP_TRACKS_MOVEMENT, "track")


@dg.asset(**_asset_kwargs("top_artists"))
def top_artists_movement(
    context: dg.AssetExecutionContext, warehouse: dg.ResourceParam[Warehouse]
) -> dg.MaterializeResult:
    """One row per artist in a user's top-artists snapshot of the day, or in their previous
    snapshot of that range and not this one (dropped): previous rank, movement (new, up n,
    down n, same, dropped) and days at #1. Partition: the snapshot date."""
    return materialize_movement(context, warehouse, TOP_ARTISTS, TOP_ARTISTS_MOVEMENT, "artist")
