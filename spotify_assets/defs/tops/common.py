"""Helpers shared by the tops assets: named SQL over lake files, snapshot files, Markdown."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from pathlib import Path

import dagster as dg
import pyarrow as pa

from spotify_assets.defs.listening.history import days_in
from spotify_assets.defs.resources import Warehouse
from spotify_assets.lib import query
from spotify_assets.lib.lake import TableSpec
from spotify_assets.lib.query import LakeView

SQL_DIR = Path(__file__).parent / "sql"


def run_sql(
    sql_file: str,
    views: Mapping[str, LakeView] | None = None,
    tables: Mapping[str, pa.Table] | None = None,
) -> pa.Table:
    """Run `sql/<sql_file>` of the tops domain (see `lib.query.run_sql`)."""
    return query.run_sql(SQL_DIR / sql_file, views, tables)


def window_days(context: dg.AssetExecutionContext) -> list[date]:
    """Every day of the run's partition window (one day, or a backfill range in one run)."""
    return days_in(context.partition_time_window)


def snapshot_files(warehouse: Warehouse, spec: TableSpec, until: date) -> list[Path]:
    """Files of a per-day, per-user snapshot table (partitions `<date>/<user>`) up to `until`."""
    keys = [
        key
        for key in warehouse.partitions(spec)
        if _is_date(day := key.split("/", 1)[0]) and date.fromisoformat(day) <= until
    ]
    return warehouse.files(spec, keys)


def partitions_of_day(warehouse: Warehouse, spec: TableSpec, day: date) -> list[str]:
    """Partitions (`<date>/<user>`) of a per-day, per-user snapshot table on `day`."""
    prefix = f"{day.isoformat()}/"
    return [key for key in warehouse.partitions(spec) if key.startswith(prefix)]


def files_of_day(warehouse: Warehouse, spec: TableSpec, day: date) -> list[Path]:
    return warehouse.files(spec, partitions_of_day(warehouse, spec, day))


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True
