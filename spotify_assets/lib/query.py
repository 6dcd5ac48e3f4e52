"""Named SQL over lake files and Arrow tables, with DuckDB: how every asset computes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from spotify_assets.lib.lake import TableSpec, one_schema


@dataclass(frozen=True)
class LakeView:
    """A DuckDB view over some files of a lake table; `select` may rename columns."""

    spec: TableSpec
    files: list[Path]
    select: str = "*"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def run_sql(
    sql_file: Path,
    views: Mapping[str, LakeView] | None = None,
    tables: Mapping[str, pa.Table] | None = None,
) -> pa.Table:
    """Run the SQL in `sql_file` over lake views (empty, with the declared schema, when a view
    has no files, so a first run needs no special case) and Arrow tables, each registered
    under its name."""
    con = duckdb.connect()
    try:
        for name, view in (views or {}).items():
            if view.files:
                # A view cannot take prepared parameters: the (lake-owned) paths are inlined.
                paths = ", ".join(_literal(str(f)) for f in view.files)
                union = "false" if one_schema(view.files) else "true"
                source = f"read_parquet([{paths}], union_by_name = {union})"
            else:
                con.register(f"{name}_empty", view.spec.schema.empty_table())
                source = f"{name}_empty"
            con.execute(f"create view {name} as select {view.select} from {source}")
        for name, table in (tables or {}).items():
            con.register(name, table)
        return con.sql(Path(sql_file).read_text()).to_arrow_table()
    finally:
        con.close()
