"""The pipeline cleans up after itself: superseded lake files and old catalogs no reader needs.

See `lib/lake/housekeeping.py` for who may still read what, and for how long.
"""

from datetime import timedelta

import dagster as dg
import pyarrow as pa

from spotify_assets.defs.resources import Warehouse
from spotify_assets.lib.catalog import catalog_generation
from spotify_assets.lib.lake import Column, TableSpec, housekeeping
from spotify_assets.lib.orchestrate import UPKEEP_TAG
from spotify_assets.lib.settings import Settings

LAKE_STORAGE = TableSpec(
    "lake_storage",
    "One row per lake table after the latest housekeeping: its current files and what older "
    "generations still keep on disk (for readers that may need them).",
    [
        Column("table_name", pa.string(), "lake table (= its catalog view)", nullable=False),
        Column("files", pa.int64(), "current files", nullable=False),
        Column("rows", pa.int64(), "current rows", nullable=False),
        Column("bytes", pa.int64(), "bytes of the current files", nullable=False),
        Column("superseded_files", pa.int64(), "older files kept (readers, grace period)"),
        Column("superseded_bytes", pa.int64(), "their bytes"),
        Column("generation", pa.int64(), "the lake generation this describes"),
    ],
    sort_by=["table_name"],
    partitioned=False,
)


@dg.asset(group_name="warehouse", kinds={"parquet"}, tags={UPKEEP_TAG: ""})
def lake_storage(
    settings: dg.ResourceParam[Settings], warehouse: dg.ResourceParam[Warehouse]
) -> dg.MaterializeResult:
    """One row per lake table: current files, rows and bytes, and the superseded files still
    kept. Materializing it first removes what no reader can need any more (superseded files
    past the grace period that no open catalog lists, old catalogs nobody holds, orphans of
    killed writers)."""
    lake = warehouse.lake
    report = housekeeping.collect(
        lake,
        warehouse.path.parent,
        catalog_generation=catalog_generation(warehouse.path),
        grace=timedelta(minutes=settings.lake_grace_minutes),
    )
    stats: dict[str, dict[str, int]] = {}
    for entry in lake.manifest.current():
        row = stats.setdefault(entry.table, {"files": 0, "rows": 0, "bytes": 0})
        row["files"] += 1
        row["rows"] += entry.rows
        row["bytes"] += entry.bytes
    old: dict[str, list[int]] = {}
    for item in lake.manifest.superseded():
        kept = old.setdefault(item.entry.table, [0, 0])
        kept[0] += 1
        kept[1] += item.entry.bytes
    rows = [
        {
            "table_name": table,
            "files": stats.get(table, {}).get("files", 0),
            "rows": stats.get(table, {}).get("rows", 0),
            "bytes": stats.get(table, {}).get("bytes", 0),
            "superseded_files": old.get(table, [0, 0])[0],
            "superseded_bytes": old.get(table, [0, 0])[1],
            "generation": report.generation,
        }
        # Every table the lake knows (itself included), with files or not: a stable set.
        for table in sorted({*lake.tables(), LAKE_STORAGE.name})
    ]
    warehouse.write(LAKE_STORAGE, rows)
    warehouse.publish()
    return dg.MaterializeResult(
        metadata={"dagster/row_count": len(rows), **report.as_metadata()}
    )


housekeeping_job = dg.define_asset_job("housekeeping_job", selection=[lake_storage])


@dg.schedule(
    job=housekeeping_job,
    cron_schedule="17 * * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def housekeeping_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """Hourly: superseded files wait out a 60-minute grace period, so they go within two."""
    return dg.RunRequest(run_key=context.scheduled_execution_time.isoformat())
