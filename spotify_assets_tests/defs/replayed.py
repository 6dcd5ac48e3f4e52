"""Shared check of the receipt replays (issue 18, `spotify-assets rebuild`): lose some tables'
lake files, replay the receipts, and the tables come back byte for byte (a lake file is named
by the hash of its bytes, so equal names are equal content)."""

from __future__ import annotations

from collections.abc import Sequence

from spotify_assets.defs.operations.rebuild import RebuildReport, replay_receipts
from spotify_assets.defs.resources import Warehouse
from spotify_assets.lib.settings import Settings


def lake_files(settings: Settings,
               tables: Sequence[str] | None = None) -> dict[str, dict[str, str]]:
    """table -> partition -> current file name (`<key>.<hash of its bytes>.parquet`), for
    `tables` (each present, maybe empty) or every table with a file."""
    out: dict[str, dict[str, str]] = {t: {} for t in tables or ()}
    for entry in Warehouse(settings).lake.manifest.current():
        if tables is None or entry.table in out:
            out.setdefault(entry.table, {})[entry.partition] = entry.path.rsplit("/", 1)[-1]
    return out


def lose_and_replay(settings: Settings, tables: Sequence[str]) -> RebuildReport:
    """Delete every partition of `tables`, replay the receipts, and check each table has the
    same files as before (and had some: nothing vacuous)."""
    before = lake_files(settings, tables)
    for table in tables:
        assert before[table], f"{table} has no files to lose"
    warehouse = Warehouse(settings)
    for table in tables:
        warehouse.lake.delete_partitions(table, warehouse.partitions(table))
    assert not any(lake_files(settings, tables).values())
    report = RebuildReport()
    replay_receipts(settings, warehouse, report)
    warehouse.publish()
    after = lake_files(settings, tables)
    for table in tables:
        assert after[table] == before[table], f"{table} differs after replaying its receipts"
    return report
