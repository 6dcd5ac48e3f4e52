"""The DuckDB catalog: `warehouse.duckdb`, one view per lake table, built from one manifest
generation.

Each view lists the exact immutable files of its table at that generation, so a query sees a
table (and every table of one commit) as it was before a publish or as it is after it, never a
mix, and never a file changing under it. A new generation means a new catalog: DuckDB lets one
process write a database file, and refuses a read-write open while anyone holds it (even
read-only), so each catalog is a new file, `.warehouse-snapshots/<gen>-<id>/warehouse.duckdb`,
never written after it is published, and `warehouse.duckdb` is a relative symlink moved to it
in one rename. Not a rename of the file itself over the old one: DuckDB opens a database path
three times (magic, headers, blocks), and a rename in between paired one catalog's headers with
another's blocks ("No more data remaining in MetadataReader"); a link it resolves first, then
reads the headers and blocks of the unchanging file it names. An analyst's open connection keeps the old file (and so
the old generation: reconnect to see newer data; `warehouse_snapshot` says which one you see);
new connections get the new one. The old file stays where it is, so housekeeping can see (by
its lock) whether a reader still has it open before deleting the data files only it refers to.

Paths in the views are relative to the catalog's folder (`lake/plays/...`), so a copied or moved
`data/` reads its own lake: open the catalog from that folder (`cd data && duckdb -readonly
warehouse.duckdb`) or with `spotify-assets sql`, which sets DuckDB's `file_search_path`.

The file is written with `storage_compatibility_version` v1.4.0 so the DuckDB CLI on PyPI
(1.5.x, which cannot read the 2.0 default format) opens it too.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from spotify_assets.lib.atomic import (
    publish_temp,
    sweep_stale_temps,
    temp_path_for,
    write_bytes_atomic,
)
from spotify_assets.lib.lake import FileEntry, Lake, schema_hash
from spotify_assets.lib.query import read_parquet_sql

STORAGE_COMPATIBILITY = "v1.4.0"
# Bumped when the way views are built changes, so existing catalogs are rebuilt once.
CATALOG_FORMAT = "4"
MAIN = "main"
ALIAS_NOTE = "Alias of {target}, kept until 2027-06: use {target}."
SNAPSHOT_DIR = ".warehouse-snapshots"
GENERATION_FILE = ".warehouse-generation"


@dataclass(frozen=True)
class CatalogSummary:
    path: Path
    views: dict[str, int]  # view name (in its schema) -> row count


def _quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def connect(db_path: Path, *, read_only: bool = True) -> duckdb.DuckDBPyConnection:
    """A connection to a catalog that resolves its relative lake paths wherever it lives."""
    db_path = Path(db_path)
    return duckdb.connect(
        str(db_path),
        read_only=read_only,
        # The link's folder, not its target's: the lake paths are relative to `data/`.
        config={"file_search_path": os.path.dirname(os.path.abspath(db_path))},
    )


@contextlib.contextmanager
def _publish_lock(db_path: Path) -> Iterator[None]:
    """One publisher at a time: two runs building catalogs from different generations must not
    let the older one rename last."""
    lock = db_path.with_name(f".{db_path.name}.lock")
    with open(lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def refresh_catalog(
    lake: Lake,
    db_path: Path,
    *,
    views: Mapping[str, DerivedView] | None = None,
    schemas: Mapping[str, str] | None = None,
) -> Path:
    """Build the catalog of the lake's current generation and publish it atomically (a no-op
    when the catalog already shows that generation with these docs and views).

    `schemas` puts each table's view in a DuckDB schema (its domain: `listening.plays`), with an
    alias of the same name in `main` for one release (until 2027-06: queries written before
    the schemas keep working). `views` are derived views (`tops.top_tracks_current`), created
    after the table views.
    """
    views, schemas = dict(views or {}), dict(schemas or {})
    db_path = Path(db_path)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    with _publish_lock(db_path):
        gen, entries, docs = lake.manifest.snapshot()
        fingerprint = _fingerprint(gen, docs, views, schemas)
        stamp = _stamp_path(db_path)
        previous = _read_stamp(stamp)
        if db_path.exists() and previous.get("fingerprint") == fingerprint:
            return db_path
        sweep_stale_temps(db_path.parent)
        _sweep_unpublished(lake, db_path)
        folder = db_path.parent / SNAPSHOT_DIR / f"{gen:010d}-{uuid.uuid4().hex[:8]}"
        folder.mkdir(parents=True)
        target = folder / db_path.name
        tmp = temp_path_for(target)
        try:
            _build(tmp, db_path.parent, lake, gen, entries, docs, views, schemas)
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
            publish_temp(tmp, target)
            if db_path.exists() and "generation" in previous:
                _retain(lake, db_path, int(previous["generation"]))
            write_bytes_atomic(db_path.parent / GENERATION_FILE, f"{gen}\n".encode())
            point_catalog(db_path, target)
            # Written after the catalog: a crash in between only costs one more rebuild.
            write_bytes_atomic(
                stamp, json.dumps({"fingerprint": fingerprint, "generation": gen}).encode()
            )
        finally:
            tmp.unlink(missing_ok=True)
            Path(f"{tmp}.wal").unlink(missing_ok=True)
            if not target.exists():  # the build failed: nothing links to its folder
                shutil.rmtree(folder, ignore_errors=True)
    return db_path


def point_catalog(db_path: Path, target: Path) -> None:
    """Swap the catalog's link to `target` in one rename."""
    link = temp_path_for(db_path)
    os.symlink(os.path.relpath(target, db_path.parent), link)
    try:
        publish_temp(link, db_path)
    finally:
        link.unlink(missing_ok=True)


def current_target(db_path: Path) -> Path | None:
    """The published catalog file `db_path` links to (None: not a link, as before 2026-12)."""
    try:
        return db_path.parent / os.readlink(db_path)
    except OSError:
        return None


def _retain(lake: Lake, db_path: Path, gen: int) -> None:
    """Record the outgoing catalog for housekeeping's reader check (before the link moves: a
    crash after it cannot leave an old catalog nobody knows of). A catalog file of the layout
    before links is kept by a hard link in its place."""
    folder = db_path.parent / SNAPSHOT_DIR
    outgoing = current_target(db_path)
    if outgoing is None:
        outgoing = folder / f"{gen:010d}-{uuid.uuid4().hex[:8]}.duckdb"
        try:
            os.link(db_path, outgoing)
        except OSError:
            return  # no hard links here: readers of old catalogs rely on the grace period alone
    lake.manifest.record_snapshot(outgoing.relative_to(db_path.parent).as_posix(), gen)


def _sweep_unpublished(lake: Lake, db_path: Path) -> None:
    """Remove catalogs a publisher killed before its link moved left behind (under the
    publish lock, so none is being built): neither current nor recorded, so unreachable."""
    folder = db_path.parent / SNAPSHOT_DIR
    if not folder.is_dir():
        return
    home = db_path.parent
    known = {(home / name).parent for name, _, _ in lake.manifest.snapshots()}
    current = current_target(db_path)
    for entry in folder.iterdir():
        if entry.is_dir() and entry not in known and (current is None or entry != current.parent):
            shutil.rmtree(entry, ignore_errors=True)


def catalog_generation(db_path: Path) -> int | None:
    """The generation the current catalog file shows (None before the first publish)."""
    value = _read_stamp(_stamp_path(Path(db_path))).get("generation")
    return int(value) if value is not None else None


def _stamp_path(db_path: Path) -> Path:
    return db_path.with_name(f".{db_path.name}.fingerprint")


def _read_stamp(stamp: Path) -> dict:
    try:
        value = json.loads(stamp.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _fingerprint(
    gen: int, docs: dict[str, str], views: dict[str, DerivedView], schemas: dict[str, str]
) -> str:
    digest = hashlib.sha256(f"{STORAGE_COMPATIBILITY}\n{CATALOG_FORMAT}\n{gen}\n".encode())
    for table, doc in sorted(docs.items()):
        digest.update(f"table {table} {schemas.get(table, MAIN)}\n{doc}\n".encode())
    for name, view in sorted(views.items()):
        digest.update(f"view {name}\n{view!r}\n".encode())
    return digest.hexdigest()


def _build(
    tmp: Path,
    home: Path,
    lake: Lake,
    gen: int,
    entries: list[FileEntry],
    docs: dict[str, str],
    views: dict[str, DerivedView],
    schemas: dict[str, str],
) -> None:
    by_table: dict[str, list[FileEntry]] = {}
    for entry in entries:
        by_table.setdefault(entry.table, []).append(entry)
    con = duckdb.connect(
        str(tmp),
        config={
            "storage_compatibility_version": STORAGE_COMPATIBILITY,
            "file_search_path": str(home.resolve()),
        },
    )
    # Entries' paths are relative to the lake root (validated, never `..`): one relpath for
    # the root, not one per file (12,000 files of a decade cost 0.15 s in relpath alone).
    root = Path(os.path.relpath(lake.root, home)).as_posix()
    try:
        # One transaction for the table views and their comments: in autocommit every
        # statement is a WAL commit (an fsync each; ~20 per table), which nearly doubled a
        # publish (and more on a busy disk). The file is private until renamed, so nothing
        # needs the commits in between.
        con.execute("begin")
        column_docs: dict[str, dict[str, str]] = {}
        for table in sorted(set(by_table) | set(docs)):
            doc = json.loads(docs[table]) if table in docs else None
            table_entries = by_table.get(table, [])
            files = [e.path if root == "." else f"{root}/{e.path}" for e in table_entries]
            select = _table_select(con, files, {e.schema_hash for e in table_entries}, doc)
            if select is None:
                continue
            schema = schemas.get(table, MAIN)
            name = _qualified(schema, table)
            _create_schema(con, schema)
            con.execute(f"create or replace view {name} as {select}")
            if doc:
                column_docs[table] = {c["name"]: c["doc"] for c in doc["columns"] if c["doc"]}
                present = _declared_columns(doc, {e.schema_hash for e in table_entries})
                _comment(con, name, doc["doc"], column_docs[table], present)
            if schema != MAIN:
                alias = _qualified(MAIN, table)
                con.execute(f"create or replace view {alias} as select * from {name}")
                _comment(con, alias, ALIAS_NOTE.format(target=f"{schema}.{table}"), {})
        published = datetime.now(UTC).isoformat(timespec="seconds")
        con.execute(
            "create or replace view warehouse_snapshot as select "
            f"{gen:d}::bigint as generation, {_quote_literal(published)}::timestamptz "
            "as published_at, latest.generation as latest_generation, "
            f"latest.generation = {gen:d} as is_latest from (select "
            f"trim(content)::bigint as generation from read_text({_quote_literal(GENERATION_FILE)})"
            ") as latest"
        )
        _comment(
            con,
            "warehouse_snapshot",
            "Which lake generation this connection sees; is_latest false: reconnect to see "
            "what was published since.",
            {
                "generation": "the lake generation this catalog file shows",
                "published_at": "when this catalog file was built (UTC)",
                "latest_generation": "the newest generation published since",
                "is_latest": "false: a newer one exists, reconnect to see it",
            },
        )
        con.execute("commit")
        # After the commit: a derived view whose tables do not exist yet fails to bind, and an
        # error inside a transaction would abort the whole of it.
        _create_derived_views(con, views, column_docs)
        con.execute("checkpoint")
    finally:
        con.close()


def _qualified(schema: str, name: str) -> str:
    return f"{_quote_ident(schema)}.{_quote_ident(name)}"


def _create_schema(con: duckdb.DuckDBPyConnection, schema: str) -> None:
    if schema != MAIN:
        con.execute(f"create schema if not exists {_quote_ident(schema)}")


def _table_select(
    con: duckdb.DuckDBPyConnection, files: list[str], hashes: set[str], doc: dict | None
) -> str | None:
    """The SELECT of a table view: its files, or an empty relation of its declared columns."""
    if files:
        # One schema binds on the first footer: 0.02 s for 3,650 files.
        return f"select * from {read_parquet_sql(files, one_schema=len(hashes) <= 1)}"
    schema = _arrow_schema(doc)
    if schema is None:
        return None
    types = duckdb.from_arrow(schema.empty_table(), connection=con).types
    columns = ", ".join(
        f"cast(null as {t}) as {_quote_ident(f.name)}" for f, t in zip(schema, types, strict=True)
    )
    return f"select {columns} where false"


def _arrow_schema(doc: dict | None) -> pa.Schema | None:
    if not doc or "arrow_schema" not in doc:
        return None
    return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(doc["arrow_schema"])))


def _declared_columns(doc: dict, hashes: set[str]) -> list[str] | None:
    """A table view's columns when its doc tells them: no files (the view is the declared
    schema) or files all written to the declared schema; None when only the view can tell
    (files of older schemas, read by name)."""
    schema = _arrow_schema(doc)
    if schema is None or not hashes <= {schema_hash(schema)}:
        return None
    return schema.names


def _comment(
    con: duckdb.DuckDBPyConnection,
    name: str,
    doc: str,
    columns: Mapping[str, str],
    present: list[str] | None = None,
) -> None:
    """Comments on a view (a qualified name) and on those of its columns `columns` documents,
    in one call. `present`: the view's columns when the caller knows them; else they are read
    with `describe`, which binds the view (reading a file footer: ~5 ms per view, most of a
    publish's comments)."""
    statements = [f"comment on view {name} is {_quote_literal(doc)}"] if doc else []
    if columns:
        if present is None:
            present = [row[0] for row in con.execute(f"describe {name}").fetchall()]
        statements += [
            f"comment on column {name}.{_quote_ident(column)} is {_quote_literal(columns[column])}"
            for column in present
            if columns.get(column)
        ]
    if statements:
        con.execute(";\n".join(statements))


def _create_derived_views(
    con: duckdb.DuckDBPyConnection,
    views: dict[str, DerivedView],
    column_docs: dict[str, dict[str, str]],
) -> None:
    """Create derived views; one whose base tables do not exist yet is left out until they do.

    Views may depend on each other, so creation repeats until no more succeed.
    """
    pending = dict(views)
    while pending:
        created = []
        for name, view in pending.items():
            qualified = _qualified(view.schema, name)
            try:
                _create_schema(con, view.schema)
                con.execute(f"create or replace view {qualified} as {view.sql}")
            except duckdb.CatalogException:
                continue
            # A column not documented in the file takes the doc of a same-named column of a
            # table the view reads.
            inherited = {
                column: doc
                for table, docs in column_docs.items()
                if re.search(rf"\b{re.escape(table)}\b", view.sql)
                for column, doc in docs.items()
            }
            _comment(con, qualified, view.doc, {**inherited, **dict(view.columns)})
            if view.schema != MAIN:
                alias = _qualified(MAIN, name)
                con.execute(f"create or replace view {alias} as select * from {qualified}")
                _comment(con, alias, ALIAS_NOTE.format(target=f"{view.schema}.{name}"), {})
            created.append(name)
        if not created:
            return
        for name in created:
            del pending[name]


@dataclass(frozen=True)
class DerivedView:
    """A view over the lake views, kept as `<domain>/sql/views/<name>.sql`: its schema is the
    domain, its doc the file's leading comment, its column docs `-- column <name>: <doc>`
    lines (columns without one take the doc of a same-named column of a table it reads)."""

    schema: str
    sql: str
    doc: str = ""
    columns: tuple[tuple[str, str], ...] = ()


def load_view_sql(root: Path) -> dict[str, DerivedView]:
    """Derived views under `<domain>/sql/views/*.sql` of `root`, by name."""
    views: dict[str, DerivedView] = {}
    for path in sorted(Path(root).rglob("sql/views/*.sql")):
        if path.stem in views:
            raise ValueError(f"two view files define {path.stem}: {path}")
        doc, columns = [], []
        for line in path.read_text().splitlines():
            if not line.startswith("--"):
                break
            text = line.removeprefix("--").strip()
            if text.startswith("column ") and ":" in text:
                name, column_doc = text.removeprefix("column ").split(":", 1)
                columns.append((name.strip(), column_doc.strip()))
            else:
                doc.append(text)
        views[path.stem] = DerivedView(
            schema=path.relative_to(root).parts[0],
            sql=path.read_text().strip().rstrip(";"),
            doc=" ".join(doc),
            columns=tuple(columns),
        )
    return views


def summarize(db_path: Path) -> CatalogSummary:
    """Row counts per view, read through a read-only connection."""
    con = connect(db_path)
    try:
        names = [
            (r[0], r[1])
            for r in con.execute(
                "select schema_name, view_name from duckdb_views() where not internal "
                "and view_name <> 'warehouse_snapshot' and (schema_name <> 'main' or "
                "comment is null or comment not like 'Alias of %') "
                "order by view_name, schema_name"
            ).fetchall()
        ]
        # By name: table and view names are unique across schemas (`plays`, not its alias).
        counts = {
            name: con.execute(f"select count(*) from {_qualified(schema, name)}").fetchone()[0]
            for schema, name in names
        }
    finally:
        con.close()
    return CatalogSummary(Path(db_path), counts)
