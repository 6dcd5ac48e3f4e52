"""The report assets: the wrapped's HTML pages of each month and year (see `pages.py`)."""

from typing import Any

import dagster as dg

from spotify_assets.defs.partitions import monthly, yearly
from spotify_assets.defs.resources import Warehouse
from spotify_assets.defs.wrapped.common import GROUP, month_key, months_in, years_in
from spotify_assets.defs.wrapped.pages import (
    links_markdown,
    month_report,
    render_period,
    year_report,
)
from spotify_assets.defs.wrapped.tables import (
    MONTHLY_WRAPPED,
    MONTHLY_WRAPPED_TOPS,
    YEARLY_WRAPPED,
    YEARLY_WRAPPED_TOPS,
)
from spotify_assets.lib.settings import Settings


def _metadata(settings: Settings, written: dict) -> dict[str, Any]:
    return {
        "reports": len(written),
        "links": dg.MetadataValue.md(links_markdown(written, settings)),
        "reports_dir": dg.MetadataValue.path(str(settings.reports_dir.resolve())),
    }


@dg.asset(
    partitions_def=monthly,
    group_name=GROUP,
    kinds={"html"},
    deps=[
        "monthly_wrapped",
        "monthly_wrapped_tops",
        "monthly_wrapped_captured",
        "monthly_wrapped_playlists",
    ],
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def monthly_wrapped_reports(
    context: dg.AssetExecutionContext,
    settings: dg.ResourceParam[Settings],
    warehouse: dg.ResourceParam[Warehouse],
    users: dg.ResourceParam[Any],
) -> dg.MaterializeResult:
    """One HTML page per registered user and local month with plays:
    `data/reports/<handle>/<YYYY-MM>.html`, with charts (minutes per day, top artists, genres,
    hours of the day), the tops, the highlights and Spotify's captured lists. Linked from the
    metadata by file:// URL."""
    total = 0
    for month in months_in(context.partition_time_window):
        key = month_key(month)
        written = render_period(
            settings, warehouse, users, key[:7],
            warehouse.scan(MONTHLY_WRAPPED, partitions=[key]),
            warehouse.scan(MONTHLY_WRAPPED_TOPS, "rank <= 5", partitions=[key]),
            lambda wh, user, row, tops, month=month: month_report(wh, user, month, row, tops),
        )
        total += len(written)
        context.add_asset_metadata(_metadata(settings, written), partition_key=key)
    return dg.MaterializeResult(metadata={"reports": total})


@dg.asset(
    partitions_def=yearly,
    group_name=GROUP,
    kinds={"html"},
    deps=["yearly_wrapped", "yearly_wrapped_tops", "monthly_wrapped_captured"],
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def yearly_wrapped_reports(
    context: dg.AssetExecutionContext,
    settings: dg.ResourceParam[Settings],
    warehouse: dg.ResourceParam[Warehouse],
    users: dg.ResourceParam[Any],
) -> dg.MaterializeResult:
    """One HTML page per registered user and local year with plays:
    `data/reports/<handle>/<YYYY>.html`: the year's numbers and charts (plus minutes per
    month), the top 5 of each quarter and the months' top tracks side by side."""
    total = 0
    for year in years_in(context.partition_time_window):
        key = str(year)
        written = render_period(
            settings, warehouse, users, key,
            warehouse.scan(YEARLY_WRAPPED, partitions=[key]),
            warehouse.scan(YEARLY_WRAPPED_TOPS, "rank <= 5", partitions=[key]),
            lambda wh, user, row, tops, year=year: year_report(wh, user, year, row, tops),
        )
        total += len(written)
        context.add_asset_metadata(_metadata(settings, written), partition_key=key)
    return dg.MaterializeResult(metadata={"reports": total})
