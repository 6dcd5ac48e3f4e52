"""The resources every asset gets, built from the one settings object.

Plain objects, passed as `dg.ResourceParam[...]`: the settings object already validated every
value, so a Dagster config layer on top would only repeat it. Construction does no I/O.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg

from spotify_assets.lib.catalog import load_view_sql, refresh_catalog
from spotify_assets.lib.lake import Lake, TableSpec, WrittenPartition
from spotify_assets.lib.raw import RawStore
from spotify_assets.lib.settings import Settings, get_settings

DEFS_DIR = Path(__file__).parent


class Warehouse:
    """The lake plus its DuckDB catalog: assets write partitions here, then publish."""

    def __init__(self, settings: Settings) -> None:
        self.lake = Lake(settings.lake_dir)
        self.path = settings.warehouse_path

    def write(self, spec: TableSpec, data: Any, partition: str | None = None) -> WrittenPartition:
        return self.lake.write(spec, data, partition)

    def publish(self) -> Path:
        """Rebuild the catalog so views exist for every table the lake has now."""
        return refresh_catalog(self.lake, self.path, extra_sql=load_view_sql(DEFS_DIR))


def build_resources(settings: Settings) -> dict[str, Any]:
    return {
        "settings": settings,
        "warehouse": Warehouse(settings),
        "raw": RawStore(settings.raw_dir),
    }


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(resources=build_resources(get_settings()))
