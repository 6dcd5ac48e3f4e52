"""What one catalog file holds: a view per lake table over its files at one generation (in its
domain's schema, with an alias in `main`), the derived views of `<domain>/sql/views/`, their
comments, and `warehouse_snapshot`. `lib/catalog.py` publishes the file.

The file is written with `storage_compatibility_version` v1.4.0 so the DuckDB CLI on PyPI
(1.5.x, which cannot read the 2.0 default format) opens it too.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from spotify_assets.lib.lake import FileEntry, Lake, schema_hash
from spotify_assets.lib.query import read_parquet_sql

STORAGE_COMPATIBILITY = "v1.4.0"
# Bumped when the way views are built changes, so existing catalogs are rebuilt once (and no
# publish starts from a copy of one).
CATALOG_FORMAT = "4"
MAIN = "main"
ALIAS_NOTE = "Alias of {target}, kept until 2027-06: use {target}."
# Beside the catalog: the newest generation published, read by `warehouse_snapshot`.
GENERATION_FILE = ".warehouse-generation"
# Beside each catalog file: what it was built from (`catalog_state`).
STATE_FILE = "tables.json"


def _quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class TableView:
    """A lake table's view in a catalog file: what its SQL and comments are made from."""

    schema: str
    files: tuple[str, ...]  # relative to the catalog's folder
    hashes: frozenset[str]
    doc: str | None  # the table's doc as the manifest keeps it (JSON)
    partitions: frozenset[str] = frozenset()

    @functools.cached_property
    def key(self) -> str:
        """A hash of all the view is made from (12,000 paths of a decade: hashed once)."""
        digest = hashlib.sha256(f"{self.schema}\n{self.doc}\n".encode())
        digest.update("\n".join(sorted(self.hashes)).encode())
        digest.update("\n".join(self.files).encode())
        return digest.hexdigest()


def table_views(
    home: Path, lake: Lake, entries: list[FileEntry], docs: dict[str, str], schemas: dict[str, str]
) -> dict[str, TableView]:
    """Each table's view at one generation (its file `entries`, table `docs`), lake paths
    relative to `home` (the folder the catalog is published in)."""
    by_table: dict[str, list[FileEntry]] = {}
    for entry in entries:
        by_table.setdefault(entry.table, []).append(entry)
    # Entries' paths are relative to the lake root (validated, never `..`): one relpath for
    # the root, not one per file (12,000 files of a decade cost 0.15 s in relpath alone).
    root = Path(os.path.relpath(lake.root, home)).as_posix()
    return {
        table: TableView(
            schemas.get(table, MAIN),
            tuple(e.path if root == "." else f"{root}/{e.path}" for e in by_table.get(table, [])),
            frozenset(e.schema_hash for e in by_table.get(table, [])),
            docs.get(table),
            frozenset(e.partition for e in by_table.get(table, [])),
        )
        for table in sorted(set(by_table) | set(docs))
    }


def catalog_state(tables: Mapping[str, TableView], views: Mapping[str, DerivedView]) -> dict:
    """What a catalog file was built from, kept beside it (`STATE_FILE`): the next publish
    starts from a copy of it when only some table views differ (`build_catalog`) and no
    partition went (`starts_from`)."""
    base = hashlib.sha256(f"{STORAGE_COMPATIBILITY}\n{CATALOG_FORMAT}\n".encode())
    for name, view in sorted(views.items()):
        base.update(f"view {name}\n{view!r}\n".encode())
    return {
        "base": base.hexdigest(),
        "tables": {name: [t.key, t.schema] for name, t in tables.items()},
        "partitions": {name: sorted(t.partitions) for name, t in tables.items()},
    }


def starts_from(previous: dict, state: dict) -> bool:
    """Whether a catalog of state `previous` can be the copy a catalog of `state` starts from.

    Not when a partition went since: a copied file keeps the bytes of the views it replaced in
    its free blocks, and a partition's key can name a listener (`<day>/<user>`): after a
    `users remove`, the next catalog must be built from nothing, or their id would outlive
    them in it. A partition that stays keeps its key in the new views anyway."""
    try:
        if previous["base"] != state["base"] or not isinstance(previous["tables"], dict):
            return False
        now = state["partitions"]
        return all(set(keys) <= set(now.get(t, ())) for t, keys in previous["partitions"].items())
    except (KeyError, TypeError):
        return False


def build_catalog(
    tmp: Path,
    home: Path,
    gen: int,
    tables: Mapping[str, TableView],
    views: Mapping[str, DerivedView],
    *,
    previous: dict | None = None,
) -> None:
    """Write the catalog of generation `gen` to `tmp`: a view per table of `tables`, the
    derived `views`, their comments and `warehouse_snapshot`.

    `previous`: the `catalog_state` of a catalog file already copied to `tmp`, of the same
    base; only the table views that differ from it are made again (a table's view over a
    decade of day files is ~0.05 s with its comments; a poll's refresh publishes once per
    history table, each changing one view). The result is the file a build from nothing
    makes (tested)."""
    con = duckdb.connect(
        str(tmp),
        config={
            "storage_compatibility_version": STORAGE_COMPATIBILITY,
            "file_search_path": str(home.resolve()),
        },
    )
    before: dict[str, list[str]] = previous["tables"] if previous else {}
    try:
        # One transaction for the table views and their comments: in autocommit every
        # statement is a WAL commit (an fsync each; ~20 per table), which nearly doubled a
        # publish (and more on a busy disk). The file is private until renamed, so nothing
        # needs the commits in between.
        con.execute("begin")
        if previous:
            # Derived views are made again below, after the tables they read.
            for name, view in views.items():
                _drop_view(con, view.schema, name)
            for name, (key, schema) in before.items():
                if name not in tables or tables[name].key != key:
                    _drop_view(con, schema, name)
        column_docs: dict[str, dict[str, str]] = {}
        for table, view in tables.items():
            doc = json.loads(view.doc) if view.doc else None
            select = _table_select(con, list(view.files), set(view.hashes), doc)
            if select is None:
                continue
            if doc:
                column_docs[table] = {c["name"]: c["doc"] for c in doc["columns"] if c["doc"]}
            if table in before and before[table][0] == view.key:
                continue  # the copied file has this very view, comments and alias
            name = qualified(view.schema, table)
            _create_schema(con, view.schema)
            con.execute(f"create or replace view {name} as {select}")
            if doc:
                present = _declared_columns(doc, set(view.hashes))
                _comment(con, name, doc["doc"], column_docs[table], present)
            if view.schema != MAIN:
                alias = qualified(MAIN, table)
                con.execute(f"create or replace view {alias} as select * from {name}")
                _comment(con, alias, ALIAS_NOTE.format(target=f"{view.schema}.{table}"), {})
        _drop_empty_schemas(con)
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
        _create_derived_views(con, dict(views), column_docs)
        con.execute("checkpoint")
    finally:
        con.close()


def _drop_view(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> None:
    """Drop a view and, for one outside `main`, its alias in `main`."""
    con.execute(f"drop view if exists {qualified(schema, name)}")
    if schema != MAIN:
        con.execute(f"drop view if exists {qualified(MAIN, name)}")


def _drop_empty_schemas(con: duckdb.DuckDBPyConnection) -> None:
    """A schema whose last view moved or went: a build from nothing would not have it."""
    empty = con.execute(
        "select schema_name from duckdb_schemas() where not internal "
        "and database_name = current_database() and schema_name <> 'main' "
        "and schema_name not in (select schema_name from duckdb_views() where not internal "
        "and database_name = current_database())"
    ).fetchall()
    for (schema,) in empty:
        con.execute(f"drop schema {_quote_ident(schema)}")


def qualified(schema: str, name: str) -> str:
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
            full = qualified(view.schema, name)
            try:
                _create_schema(con, view.schema)
                con.execute(f"create or replace view {full} as {view.sql}")
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
            _comment(con, full, view.doc, {**inherited, **dict(view.columns)})
            if view.schema != MAIN:
                alias = qualified(MAIN, name)
                con.execute(f"create or replace view {alias} as select * from {full}")
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
