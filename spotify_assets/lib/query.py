"""Named SQL over lake files and Arrow tables, with DuckDB: how every asset computes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
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


def utc_connection() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection that cuts instants into days, hours and minutes in UTC,
    as every rule of ours does (a listener's own zone is named in the SQL): DuckDB's default is
    the machine's zone, and on a machine in Tokyo a play at 23:50 UTC fell on the next day."""
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    return con


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def read_parquet_sql(paths: Iterable[str | Path], *, one_schema: bool) -> str:
    """`read_parquet` over lake files, paths inlined (a relation's source cannot take a
    prepared parameter). Files of one schema bind on the first file's footer; mixed schemas
    (a column added since) need DuckDB to read every footer and unite them by name, which
    is twice the time of a scan of 2,400 day files."""
    listed = ", ".join(_literal(str(p)) for p in paths)
    return f"read_parquet([{listed}], union_by_name = {'false' if one_schema else 'true'})"


def run_sql(
    sql_file: Path,
    views: Mapping[str, LakeView] | None = None,
    tables: Mapping[str, pa.Table] | None = None,
) -> pa.Table:
    """Run the SQL in `sql_file` over lake views (empty, with the declared schema, when a view
    has no files, so a first run needs no special case) and Arrow tables, each registered
    under its name."""
    con = utc_connection()
    try:
        for name, view in (views or {}).items():
            if view.files:
                source = read_parquet_sql(view.files, one_schema=one_schema(view.files) is not None)
            else:
                con.register(f"{name}_empty", view.spec.schema.empty_table())
                source = f"{name}_empty"
            con.execute(f"create view {name} as select {view.select} from {source}")
        for name, table in (tables or {}).items():
            con.register(name, table)
        return con.sql(Path(sql_file).read_text()).to_arrow_table()
    finally:
        con.close()
