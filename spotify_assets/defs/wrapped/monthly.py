"""The monthly wrapped, from plays: one row per user and local month, and the month's tops.

Recomputed whenever it runs (an import of old history, late plays): only the captured part
(`captured.py`) is write-once, and this asset never touches it.
"""

from datetime import date
from typing import Any

import dagster as dg
import pyarrow as pa

from spotify_assets.defs.listening.history import AROUND_MONTH
from spotify_assets.defs.partitions import monthly
from spotify_assets.defs.resources import Warehouse
from spotify_assets.defs.wrapped.common import (
    GROUP,
    Period,
    captures_of_month,
    compute,
    count_by,
    load_known,
    month_key,
    months_in,
    next_month,
    total_minutes,
    with_captures,
)
from spotify_assets.defs.wrapped.tables import MONTHLY_WRAPPED, MONTHLY_WRAPPED_TOPS
from spotify_assets.lib.settings import Settings

SUMMARY_OUT = "monthly_wrapped"
TOPS_OUT = "monthly_wrapped_tops"


def month_tables(month: date, summary: pa.Table, tops: pa.Table) -> tuple[pa.Table, pa.Table]:
    """The SQL's generic period columns as the monthly tables name them."""
    summary = summary.drop_columns(["period"])
    summary = summary.rename_columns(
        ["month" if c == "period_start" else c for c in summary.column_names]
    )
    tops = tops.drop_columns(["period"])
    tops = tops.append_column("month", pa.array([month] * tops.num_rows, pa.date32()))
    return summary, tops


@dg.multi_asset(
    name="monthly_wrapped",
    specs=[
        dg.AssetSpec(
            SUMMARY_OUT,
            group_name=GROUP,
            kinds={"duckdb", "parquet"},
            description="One row per user and local calendar month with plays: the wrapped's "
            "numbers (minutes, plays, distinct recordings/artists/albums, new artists, peak "
            "day, streak, skip and shuffle shares, minutes by hour and day). From `plays`.",
            # A local month holds plays of the UTC days just before and after it.
            deps=[
                dg.AssetDep("plays", partition_mapping=AROUND_MONTH),
                "genres",
                "top_tracks",
                "mb_recordings",
                "monthly_wrapped_captured",
            ],
        ),
        dg.AssetSpec(
            TOPS_OUT,
            group_name=GROUP,
            kinds={"duckdb", "parquet"},
            description="One row per user, local month, entity (track = recording, artist, "
            "album, genre, new_artist) and rank: the month's top 50 by minutes. From `plays`.",
            deps=[dg.AssetDep("plays", partition_mapping=AROUND_MONTH), "genres"],
        ),
    ],
    partitions_def=monthly,
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def monthly_wrapped(
    context: dg.AssetExecutionContext,
    settings: dg.ResourceParam[Settings],
    warehouse: dg.ResourceParam[Warehouse],
    users: dg.ResourceParam[Any],
):
    """The plays part of every user's wrapped for each month of the run (a decade backfill is
    one run): `sql/wrapped_plays.sql` stages the month's plays in each user's timezone,
    `wrapped_tops.sql` and `wrapped_summary.sql` compute. Tracks are recordings (the rule of
    defs/tops/sql/recordings.sql). The captured part is read, never rewritten: the summary row
    says whether it exists (`captured_status`)."""
    known = load_known(warehouse, settings, users)
    totals: dict[str, dict[str, object]] = {}
    for month in months_in(context.partition_time_window):
        period = Period("month", month, next_month(month))
        summary, tops = compute(warehouse, known, period.start, period.end, [period], period)
        captures = captures_of_month(warehouse, month, users)
        summary, tops = month_tables(month, with_captures(summary, captures), tops)
        key = month_key(month)
        with warehouse.transaction() as tx:
            tx.write(MONTHLY_WRAPPED, summary, key)
            tx.write(MONTHLY_WRAPPED_TOPS, tops, key)
        captured = count_by(summary["captured_status"].to_pylist())
        totals[key] = {"users": summary.num_rows, "captured": captured}
        context.add_asset_metadata(
            {
                "dagster/row_count": summary.num_rows,
                "users_with_plays": summary.num_rows,
                "minutes": total_minutes(summary),
                # The plays part was recomputed; the captured part was only read.
                "captured_part": dg.MetadataValue.json(
                    {"kept_as_captured": captured.get("captured", 0), **captured}
                ),
            },
            asset_key=SUMMARY_OUT,
            partition_key=key,
        )
        context.add_asset_metadata(
            {"dagster/row_count": tops.num_rows}, asset_key=TOPS_OUT, partition_key=key
        )
    warehouse.publish()
    note = (
        "plays part recomputed; the captured part (monthly_wrapped_captured) is write-once "
        "and was not touched"
    )
    yield dg.MaterializeResult(
        asset_key=SUMMARY_OUT,
        metadata={"months": dg.MetadataValue.json(totals), "captured_part_rule": note},
    )
    yield dg.MaterializeResult(asset_key=TOPS_OUT, metadata={"months": len(totals)})
