"""The DuckDB catalog: `warehouse.duckdb` holding one view per lake table, with comments.

Why a rebuild-and-rename instead of updating the file in place: DuckDB lets one process write a
database file, and while any other process holds it open (even read-only), opening it
read-write fails. So the catalog is built in a temp file and `os.replace`d over the old one:
an analyst's open connection keeps reading the old file, new connections see the new one, and no
run ever waits on (or breaks) an analyst. The views glob the lake, so new partitions show up
without any catalog write; a rebuild is needed only when a table first appears.

The file is written with `storage_compatibility_version` v1.4.0 so the DuckDB CLI on PyPI
(1.5.x, which cannot read the 2.0 default format) opens it too.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import duckdb

from spotify_assets.lib.atomic import sweep_stale_temps, temp_path_for, write_bytes_atomic
from spotify_assets.lib.lake import Lake

STORAGE_COMPATIBILITY = "v1.4.0"


@dataclass(frozen=True)
class CatalogSummary:
    path: Path
    views: dict[str, int]  # view name -> row count


def _quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def refresh_catalog(lake: Lake, db_path: Path, *, extra_sql: dict[str, str] | None = None) -> Path:
    """Rebuild the catalog from the lake's tables and publish it atomically.

    `extra_sql` maps view names to SELECT statements over the lake views (derived views such as
    `top_tracks_current`); they are created after the table views.
    """
    db_path = Path(db_path)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    fingerprint = _fingerprint(lake, extra_sql or {})
    stamp = _stamp_path(db_path)
    if db_path.exists() and stamp.exists() and stamp.read_text() == fingerprint:
        return db_path  # same tables, docs and views: the views already see every new file
    sweep_stale_temps(db_path.parent)
    tmp = temp_path_for(db_path)
    tmp.unlink(missing_ok=True)
    try:
        con = duckdb.connect(
            str(tmp), config={"storage_compatibility_version": STORAGE_COMPATIBILITY}
        )
        try:
            for table in lake.tables():
                _create_table_view(con, lake, table)
            _create_derived_views(con, extra_sql or {})
            con.execute("checkpoint")
        finally:
            con.close()
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, db_path)
        # Written after the catalog: a crash in between only costs one more rebuild.
        write_bytes_atomic(stamp, fingerprint.encode())
    finally:
        tmp.unlink(missing_ok=True)
        Path(f"{tmp}.wal").unlink(missing_ok=True)
    return db_path


def _stamp_path(db_path: Path) -> Path:
    return db_path.with_name(f".{db_path.name}.fingerprint")


def _fingerprint(lake: Lake, extra_sql: dict[str, str]) -> str:
    """What the catalog is built from, other than data files: which tables exist, their docs
    (columns, comments) and the derived views. Equal fingerprints give equal catalogs."""
    digest = hashlib.sha256(f"{STORAGE_COMPATIBILITY}\n".encode())
    for table in lake.tables():
        doc = lake.table_dir(table) / "_table.json"
        digest.update(f"table {table}\n".encode())
        digest.update(doc.read_bytes() if doc.exists() else b"-")
    for name, sql in sorted(extra_sql.items()):
        digest.update(f"view {name}\n{sql}\n".encode())
    return digest.hexdigest()


def _create_derived_views(con: duckdb.DuckDBPyConnection, views: dict[str, str]) -> None:
    """Create derived views; one whose base tables do not exist yet is left out until they do.

    Views may depend on each other, so creation repeats until no more succeed.
    """
    pending = dict(views)
    while pending:
        created = []
        for name, select in pending.items():
            try:
                con.execute(f"create or replace view {_quote_ident(name)} as {select}")
            except duckdb.CatalogException:
                continue
            created.append(name)
        if not created:
            return
        for name in created:
            del pending[name]


def _create_table_view(con: duckdb.DuckDBPyConnection, lake: Lake, table: str) -> None:
    glob = lake.glob(table)
    con.execute(
        f"create or replace view {_quote_ident(table)} as "
        f"select * from read_parquet({_quote_literal(glob)}, union_by_name = true)"
    )
    doc_path = lake.table_dir(table) / "_table.json"
    if not doc_path.exists():
        return
    doc = json.loads(doc_path.read_text())
    con.execute(f"comment on view {_quote_ident(table)} is {_quote_literal(doc['doc'])}")
    present = {row[0] for row in con.execute(f"describe {_quote_ident(table)}").fetchall()}
    for column in doc["columns"]:
        if column["name"] in present and column["doc"]:
            con.execute(
                f"comment on column {_quote_ident(table)}.{_quote_ident(column['name'])} "
                f"is {_quote_literal(column['doc'])}"
            )


def load_view_sql(root: Path) -> dict[str, str]:
    """Derived views kept as `<name>.sql` files under `**/sql/views/` of `root`, by name."""
    views: dict[str, str] = {}
    for path in sorted(Path(root).rglob("sql/views/*.sql")):
        if path.stem in views:
            raise ValueError(f"two view files define {path.stem}: {path}")
        views[path.stem] = path.read_text().strip().rstrip(";")
    return views


def summarize(db_path: Path) -> CatalogSummary:
    """Row counts per view, read through a read-only connection."""
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        names = [
            r[0]
            for r in con.execute(
                "select view_name from duckdb_views() where not internal order by view_name"
            ).fetchall()
        ]
        counts = {
            name: con.execute(f"select count(*) from {_quote_ident(name)}").fetchone()[0]
            for name in names
        }
    finally:
        con.close()
    return CatalogSummary(Path(db_path), counts)
