"""The year in review: the monthly wrapped's numbers for a local calendar year, the top 5 of
each quarter (how taste moved), listening per month and the months' tops side by side.

Spotify's lists are not asked again for a year: the capture of its December (taken on January
1st at 00:00 UTC, when the year ended) is the year's captured part (`captured_status` here and
the report read it).
"""

from datetime import date
from typing import Any

import dagster as dg
import pyarrow as pa

from spotify_assets.defs.partitions import yearly
from spotify_assets.defs.resources import Warehouse
from spotify_assets.defs.wrapped.common import (
    GROUP,
    captures_of_month,
    compute,
    count_by,
    load_known,
    periods_table,
    total_minutes,
    with_captures,
    year_periods,
    years_in,
)
from spotify_assets.defs.wrapped.tables import YEARLY_WRAPPED, YEARLY_WRAPPED_TOPS
from spotify_assets.lib.settings import Settings

SUMMARY_OUT = "yearly_wrapped"
TOPS_OUT = "yearly_wrapped_tops"


def year_tables(year: int, summary: pa.Table, tops: pa.Table,
                periods: pa.Table) -> tuple[pa.Table, pa.Table]:
    summary = summary.drop_columns(["period", "period_start"])
    summary = summary.append_column("year", pa.array([year] * summary.num_rows, pa.int32()))
    tops = tops.append_column("year", pa.array([year] * tops.num_rows, pa.int32()))
    bounds = {row["period"]: row for row in periods.to_pylist()}
    names = tops["period"].to_pylist()
    tops = tops.append_column(
        "period_start", pa.array([bounds[n]["period_start"] for n in names], pa.date32())
    )
    tops = tops.append_column(
        "period_end", pa.array([bounds[n]["period_end"] for n in names], pa.date32())
    )
    return summary, tops


@dg.multi_asset(
    name="yearly_wrapped",
    specs=[
        dg.AssetSpec(
            SUMMARY_OUT,
            group_name=GROUP,
            kinds={"duckdb", "parquet"},
            description="One row per user and local calendar year with plays: the wrapped's "
            "numbers for the year, minutes per month. From `plays`.",
            deps=["plays", "genres", "top_tracks", "mb_recordings", "monthly_wrapped_captured"],
        ),
        dg.AssetSpec(
            TOPS_OUT,
            group_name=GROUP,
            kinds={"duckdb", "parquet"},
            description="One row per user, year, period (year, Q1..Q4, 01..12), entity and "
            "rank: the top 50 of the year, each quarter and each month. From `plays`.",
            deps=["plays", "genres"],
        ),
    ],
    partitions_def=yearly,
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def yearly_wrapped(
    context: dg.AssetExecutionContext,
    settings: dg.ResourceParam[Settings],
    warehouse: dg.ResourceParam[Warehouse],
    users: dg.ResourceParam[Any],
):
    """Each user's year in review for each year of the run: the same SQL as the monthly
    wrapped over the local calendar year, its quarters and its months (one staging of the
    year's plays). The captured part is December's (`monthly_wrapped_captured`)."""
    known = load_known(warehouse, settings, users)
    totals: dict[str, int] = {}
    for year in years_in(context.partition_time_window):
        periods = year_periods(year)
        main = periods[0]
        summary, tops = compute(warehouse, known, main.start, main.end, periods, main)
        captures = captures_of_month(warehouse, date(year, 12, 1), users)
        summary, tops = year_tables(
            year, with_captures(summary, captures), tops, periods_table(periods)
        )
        key = str(year)
        with warehouse.transaction() as tx:
            tx.write(YEARLY_WRAPPED, summary, key)
            tx.write(YEARLY_WRAPPED_TOPS, tops, key)
        totals[key] = summary.num_rows
        context.add_asset_metadata(
            {
                "dagster/row_count": summary.num_rows,
                "minutes": total_minutes(summary),
                "captured_part_of_december": dg.MetadataValue.json(
                    count_by(summary["captured_status"].to_pylist())
                ),
            },
            asset_key=SUMMARY_OUT,
            partition_key=key,
        )
        context.add_asset_metadata(
            {"dagster/row_count": tops.num_rows}, asset_key=TOPS_OUT, partition_key=key
        )
    warehouse.publish()
    yield dg.MaterializeResult(
        asset_key=SUMMARY_OUT, metadata={"users_by_year": dg.MetadataValue.json(totals)}
    )
    yield dg.MaterializeResult(asset_key=TOPS_OUT, metadata={"years": len(totals)})
