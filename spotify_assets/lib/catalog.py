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
reads the headers and blocks of the unchanging file it names. An analyst's open connection
keeps the old file (and so the old generation: reconnect to see newer data;
`warehouse_snapshot` says which one you see); new connections get the new one. The old file
stays where it is, so housekeeping can see (by its lock) whether a reader still has it open
before deleting the data files only it refers to.

Paths in the views are relative to the catalog's folder (`lake/plays/...`), so a copied or moved
`data/` reads its own lake: open the catalog from that folder (`cd data && duckdb -readonly
warehouse.duckdb`) or with `spotify-assets sql`, which sets DuckDB's `file_search_path`.

What a catalog file holds (its views and comments) is `lib/catalog_views.py`.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import duckdb

from spotify_assets.lib.atomic import (
    atomic_path,
    publish_temp,
    sweep_stale_temps,
    temp_path_for,
    write_bytes_atomic,
)
from spotify_assets.lib.catalog_views import (
    ALIAS_NOTE,
    CATALOG_FORMAT,
    GENERATION_FILE,
    MAIN,
    STATE_FILE,
    STORAGE_COMPATIBILITY,
    DerivedView,
    TableView,
    build_catalog,
    catalog_state,
    load_view_sql,
    qualified,
    starts_from,
    table_views,
)
from spotify_assets.lib.lake import Lake

SNAPSHOT_DIR = ".warehouse-snapshots"


@dataclass(frozen=True)
class CatalogSummary:
    path: Path
    views: dict[str, int]  # view name (in its schema) -> row count


def connect(db_path: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection to a catalog that resolves its relative lake paths wherever it
    lives (a catalog is only ever written by its publish)."""
    db_path = Path(db_path)
    return duckdb.connect(
        str(db_path),
        read_only=True,
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
        tables = table_views(db_path.parent, lake, entries, docs, schemas)
        state = catalog_state(tables, views)
        folder = db_path.parent / SNAPSHOT_DIR / f"{gen:010d}-{uuid.uuid4().hex[:8]}"
        folder.mkdir(parents=True)
        target = folder / db_path.name
        try:
            with atomic_path(target) as tmp:
                try:
                    _build(tmp, db_path, gen, tables, views, state)
                finally:
                    Path(f"{tmp}.wal").unlink(missing_ok=True)
            # With the file as published: one changed since (an analyst's read-write
            # connection) is not copied.
            write_bytes_atomic(folder / STATE_FILE, json.dumps(_stamped(state, target)).encode())
            if db_path.exists() and "generation" in previous:
                _retain(lake, db_path, int(previous["generation"]))
            write_bytes_atomic(db_path.parent / GENERATION_FILE, f"{gen}\n".encode())
            point_catalog(db_path, target)
            # Written after the catalog: a crash in between only costs one more rebuild.
            write_bytes_atomic(
                stamp, json.dumps({"fingerprint": fingerprint, "generation": gen}).encode()
            )
        finally:
            if not target.exists():  # the build failed: nothing links to its folder
                shutil.rmtree(folder, ignore_errors=True)
    return db_path


def _build(
    tmp: Path,
    db_path: Path,
    gen: int,
    tables: dict[str, TableView],
    views: dict[str, DerivedView],
    state: dict,
) -> None:
    """Build from a copy of the current catalog file when its state (kept beside it, so it
    always describes that very file) allows it (`starts_from`); from nothing otherwise, or if
    the copy cannot be brought up to date."""
    current = current_target(db_path)
    previous = _read_stamp(current.parent / STATE_FILE) if current is not None else {}
    if current is not None and starts_from(previous, state) and _untouched(current, previous):
        try:
            shutil.copyfile(current, tmp)
            if _untouched(current, previous):  # and nobody wrote it while it was copied
                build_catalog(tmp, db_path.parent, gen, tables, views, previous=previous)
                return
        except (OSError, duckdb.Error):
            pass
        for leftover in (tmp, Path(f"{tmp}.wal")):
            leftover.unlink(missing_ok=True)
    build_catalog(tmp, db_path.parent, gen, tables, views)


def _stamped(state: dict, catalog_file: Path) -> dict:
    return {**state, "file": _identity(catalog_file)}


def _identity(catalog_file: Path) -> list[int]:
    info = catalog_file.stat()
    return [info.st_size, info.st_mtime_ns]


def _untouched(catalog_file: Path, previous: dict) -> bool:
    """The catalog file is as it was published: a catalog is never written after that, but
    an analyst can open it read-write (`duckdb warehouse.duckdb` without `-readonly`) and
    create a table; a build from nothing drops what they made, as it always did, where a copy
    would carry it on (or copy a file half-written)."""
    if Path(f"{catalog_file}.wal").exists():
        return False  # open read-write now, or left so by a crash
    try:
        return previous.get("file") == _identity(catalog_file)
    except OSError:
        return False


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
            name: con.execute(f"select count(*) from {qualified(schema, name)}").fetchone()[0]
            for schema, name in names
        }
    finally:
        con.close()
    return CatalogSummary(Path(db_path), counts)


__all__ = [
    "ALIAS_NOTE",
    "SNAPSHOT_DIR",
    "CatalogSummary",
    "DerivedView",
    "catalog_generation",
    "connect",
    "current_target",
    "load_view_sql",
    "point_catalog",
    "refresh_catalog",
    "summarize",
]
