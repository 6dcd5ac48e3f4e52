"""Listening statistics computed from `plays` with DuckDB: per local day, sessions, coverage,
hour x weekday heatmap."""

from datetime import timedelta
from pathlib import Path

import dagster as dg
import pyarrow as pa

from spotify_assets.defs.listening.plays import day_pool, days_in, write_days
from spotify_assets.defs.listening.tables import (
    DAILY_LISTENING,
    LISTENING_COVERAGE,
    LISTENING_HEATMAP,
    LISTENING_SESSIONS,
    PLAYS,
)
from spotify_assets.defs.partitions import daily
from spotify_assets.defs.resources import Warehouse
from spotify_assets.lib.query import LakeView, run_sql
from spotify_assets.lib.settings import Settings

SQL_DIR = Path(__file__).parent / "sql"
SESSION_GAP_MINUTES = 10

# A local day of a user anywhere from UTC-12 to UTC+14 lies within the UTC days D-1 .. D+1.
AROUND = dg.TimeWindowPartitionMapping(start_offset=-1, end_offset=1)


def _timezones(users, settings: Settings) -> pa.Table:
    rows = [{"user_id": u.id, "tz": u.timezone} for u in users.list()]
    return pa.Table.from_pylist(
        rows, schema=pa.schema([("user_id", pa.string()), ("tz", pa.string())])
    )


def _query(sql_file: str, files: list[Path], **tables: pa.Table) -> pa.Table:
    """Run a named SQL file over the given `plays` files (view `plays`) and Arrow tables."""
    return run_sql(SQL_DIR / sql_file, {"plays": LakeView(PLAYS, files)}, tables)


def _plays_files(warehouse: Warehouse, window: dg.TimeWindow, margin_days: int) -> list[Path]:
    start = window.start - timedelta(days=margin_days)
    end = window.end + timedelta(days=margin_days)
    return warehouse.files(PLAYS, [day.isoformat() for day in days_in(dg.TimeWindow(start, end))])


def _daily_asset_kwargs(name: str, **extra) -> dict:
    return dict(
        group_name="listening",
        partitions_def=daily,
        backfill_policy=dg.BackfillPolicy.single_run(),
        kinds={"duckdb", "parquet"},
        pool=day_pool(name),
        **extra,
    )


@dg.asset(
    **_daily_asset_kwargs("daily_listening", deps=[dg.AssetDep("plays", partition_mapping=AROUND)])
)
def daily_listening(
    context: dg.AssetExecutionContext,
    settings: dg.ResourceParam[Settings],
    warehouse: dg.ResourceParam[Warehouse],
    users: dg.ResourceParam[object],
) -> dg.MaterializeResult:
    """One row per user per local day (the user's timezone) with any listening: minutes,
    plays, distinct tracks and artists, top track and artist. Partition: the local date."""
    window = context.partition_time_window
    result = _query(
        "daily_listening.sql",
        _plays_files(warehouse, window, 1),
        timezones=_timezones(users, settings),
        params=pa.table(
            {
                "first_day": [window.start.date()],
                "end_day": [window.end.date()],
                "default_tz": [settings.default_timezone],
            }
        ),
    )
    frame = result.to_pandas()
    write_days(warehouse, DAILY_LISTENING, frame, days_in(window), "date")
    warehouse.publish()
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(frame),
            "minutes": float(frame["minutes"].sum()) if len(frame) else 0.0,
        }
    )


@dg.asset(
    **_daily_asset_kwargs(
        "listening_sessions", deps=[dg.AssetDep("plays", partition_mapping=AROUND)]
    )
)
def listening_sessions(
    context: dg.AssetExecutionContext, warehouse: dg.ResourceParam[Warehouse]
) -> dg.MaterializeResult:
    """One row per listening session (plays with at most 10 minutes between one's stop and the
    next one's start). Partition: the UTC day the session started."""
    window = context.partition_time_window
    result = _query(
        "listening_sessions.sql",
        _plays_files(warehouse, window, 1),
        params=pa.table(
            {
                "first_day": [window.start.date()],
                "end_day": [window.end.date()],
                "gap_minutes": [SESSION_GAP_MINUTES],
            }
        ),
    )
    frame = result.to_pandas()
    write_days(warehouse, LISTENING_SESSIONS, frame, days_in(window), "day")
    warehouse.publish()
    return dg.MaterializeResult(metadata={"dagster/row_count": len(frame)})


@dg.asset(**_daily_asset_kwargs("listening_coverage", deps=["plays"]))
def listening_coverage(
    context: dg.AssetExecutionContext, warehouse: dg.ResourceParam[Warehouse]
) -> dg.MaterializeResult:
    """One row per user per UTC day: plays seen by polling vs by exports, so a user can see
    what polling missed (export_only) and what no export holds yet (poll_only)."""
    window = context.partition_time_window
    frame = _query("listening_coverage.sql", _plays_files(warehouse, window, 0)).to_pandas()
    write_days(warehouse, LISTENING_COVERAGE, frame, days_in(window), "day")
    warehouse.publish()
    missed = int(frame["export_only"].sum()) if len(frame) else 0
    return dg.MaterializeResult(
        metadata={"dagster/row_count": len(frame), "plays_polling_missed": missed}
    )


@dg.asset(group_name="listening", deps=["plays"], kinds={"duckdb", "parquet"})
def listening_heatmap(
    settings: dg.ResourceParam[Settings],
    warehouse: dg.ResourceParam[Warehouse],
    users: dg.ResourceParam[object],
) -> dg.MaterializeResult:
    """One row per user, local ISO weekday and local hour with listening, over all history."""
    files = warehouse.files(PLAYS)
    frame = _query(
        "listening_heatmap.sql",
        files,
        timezones=_timezones(users, settings),
        params=pa.table({"default_tz": [settings.default_timezone]}),
    ).to_pandas()
    warehouse.write(LISTENING_HEATMAP, frame)
    warehouse.publish()
    return dg.MaterializeResult(metadata={"dagster/row_count": len(frame)})
