"""The lake's manifest: which immutable file is the current content of each partition.

Data files are never replaced in place (a reader that has one half-read would fail or mix two
versions); a write adds a new, uniquely named file and a commit here makes it current. A
commit is one SQLite transaction, so everything in it (several partitions, several tables, the
days it leaves stale for derived tables) becomes current together, and each commit is a new
*generation*. The catalog is built from one generation, so an analyst sees a whole commit or
none of it. Superseded files stay on disk, recorded with the generation that removed them,
until housekeeping finds no reader can still need them.

Paths are relative to the lake root: a copied or moved `data/` reads its own files.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from spotify_assets.lib import sqlite_db
from spotify_assets.lib.process import check_parent_alive

FILE_NAME = "_manifest.sqlite3"

_SCHEMA = [
    """create table if not exists generations (
        gen integer primary key,
        committed_at text not null,
        summary text not null
    )""",
    """create table if not exists files (
        id integer primary key,
        table_name text not null,
        partition text not null,
        path text not null,
        rows integer not null,
        bytes integer not null,
        schema_hash text not null,
        added_gen integer not null,
        removed_gen integer
    )""",
    """create unique index if not exists files_current
        on files(table_name, partition) where removed_gen is null""",
    "create index if not exists files_path on files(path)",
    """create table if not exists table_docs (
        table_name text primary key,
        doc text not null
    )""",
    # Keys (UTC days) whose derived tables need recomputing, per scope; version = the
    # generation that last marked them, so a refresh that read them earlier cannot clear them.
    """create table if not exists stale (
        scope text not null,
        key text not null,
        version integer not null,
        primary key (scope, key)
    )""",
    # What a run (re)computes: cleared on its success only.
    """create table if not exists claims (
        run_id text not null,
        scope text not null,
        key text not null,
        version integer not null,
        primary key (run_id, scope, key)
    )""",
    # Superseded files a forgotten user's rows are in, that an open catalog still lists: removed
    # as soon as no open catalog does, whatever the grace period.
    """create table if not exists forget_pending (
        file_id integer primary key
    )""",
    # Catalog files kept for readers that may still have them open (see housekeeping).
    """create table if not exists snapshots (
        file text primary key,
        gen integer not null,
        published_at text not null
    )""",
]


@dataclass(frozen=True)
class FileEntry:
    """One immutable data file: the content of `partition` of `table` from some generation."""

    table: str
    partition: str
    path: str  # relative to the lake root, '/'-separated
    rows: int
    bytes: int
    schema_hash: str


@dataclass(frozen=True)
class Change:
    """Make `entry` the content of a partition, or (entry None) remove the partition."""

    table: str
    partition: str
    entry: FileEntry | None


@dataclass(frozen=True)
class Superseded:
    id: int
    entry: FileEntry
    added_gen: int
    removed_gen: int
    removed_at: datetime


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _entry(row: Sequence) -> FileEntry:
    return FileEntry(*row)


_ENTRY_COLUMNS = "table_name, partition, path, rows, bytes, schema_hash"


class Manifest:
    def __init__(
        self, lake_root: Path, on_create: Callable[[Manifest], object] | None = None
    ) -> None:
        """`on_create` runs once when this manifest creates the file (adopting what a lake
        without a manifest holds)."""
        self.path = Path(lake_root) / FILE_NAME
        self._on_create = on_create
        self._ready = False

    def ensure(self) -> None:
        """Create the manifest (adopting what the lake holds) if this is its first use."""
        if not self._ready:
            fresh = not self.path.exists()
            sqlite_db.create(self.path, _SCHEMA, mode=0o644)
            self._ready = True
            if fresh and self._on_create is not None:
                self._on_create(self)

    def _tx(self, *, write: bool):
        self.ensure()
        return sqlite_db.transaction(self.path, write=write)

    def exists(self) -> bool:
        return self.path.exists()

    # -- reading ------------------------------------------------------------------------------

    def generation(self) -> int:
        with self._tx(write=False) as con:
            return con.execute("select coalesce(max(gen), 0) from generations").fetchone()[0]

    def current(
        self, table: str | None = None, partitions: Iterable[str] | None = None
    ) -> list[FileEntry]:
        """Current files (of one table, of some partitions), by table and partition."""
        with self._tx(write=False) as con:
            return self._current(con, table, partitions)

    @staticmethod
    def _current(con, table: str | None, partitions: Iterable[str] | None) -> list[FileEntry]:
        sql = f"select {_ENTRY_COLUMNS} from files where removed_gen is null"
        params: list = []
        if table is not None:
            sql += " and table_name = ?"
            params.append(table)
        rows = con.execute(sql + " order by table_name, partition", params).fetchall()
        entries = [_entry(r) for r in rows]
        if partitions is not None:
            wanted = set(partitions)
            entries = [e for e in entries if e.partition in wanted]
        return entries

    def snapshot(self) -> tuple[int, list[FileEntry], dict[str, str]]:
        """(generation, current files, table docs), read in one transaction."""
        with self._tx(write=False) as con:
            gen = con.execute("select coalesce(max(gen), 0) from generations").fetchone()[0]
            docs = dict(con.execute("select table_name, doc from table_docs").fetchall())
            return gen, self._current(con, None, None), docs

    def docs(self) -> dict[str, str]:
        with self._tx(write=False) as con:
            return dict(con.execute("select table_name, doc from table_docs").fetchall())

    # -- committing ---------------------------------------------------------------------------

    def commit(
        self,
        changes: Sequence[Change],
        *,
        docs: Mapping[str, str] | None = None,
        stale: Mapping[str, Iterable[str]] | None = None,
        lake_root: Path | None = None,
        keep_existing: bool = False,
    ) -> int:
        """Apply `changes` (and table docs, and stale marks) as one new generation; returns it,
        or the current generation when nothing changed (re-writing identical content is free).

        With `lake_root`, every new file must exist there: a commit never points at nothing.
        With `keep_existing`, a partition that already has a current file keeps it.
        A step process whose run worker died commits nothing (`OrphanedError`).
        """
        check_parent_alive()
        with self._tx(write=True) as con:
            gen = con.execute("select coalesce(max(gen), 0) from generations").fetchone()[0] + 1
            changed_tables: set[str] = set()
            for change in changes:
                row = con.execute(
                    "select id, path from files where table_name = ? and partition = ? "
                    "and removed_gen is null",
                    (change.table, change.partition),
                ).fetchone()
                if change.entry is not None and row is not None and row[1] == change.entry.path:
                    continue  # same content (file names are content hashes)
                if keep_existing and row is not None:
                    continue
                if row is None and change.entry is None:
                    continue
                if row is not None:
                    con.execute("update files set removed_gen = ? where id = ?", (gen, row[0]))
                if change.entry is not None:
                    entry = change.entry
                    if lake_root is not None and not (lake_root / entry.path).is_file():
                        raise FileNotFoundError(f"commit of missing lake file {entry.path}")
                    con.execute(
                        f"insert into files ({_ENTRY_COLUMNS}, added_gen) "
                        "values (?, ?, ?, ?, ?, ?, ?)",
                        (*_entry_values(entry), gen),
                    )
                changed_tables.add(change.table)
            for table, doc in (docs or {}).items():
                old = con.execute(
                    "select doc from table_docs where table_name = ?", (table,)
                ).fetchone()
                if old is None or old[0] != doc:
                    con.execute(
                        "insert or replace into table_docs (table_name, doc) values (?, ?)",
                        (table, doc),
                    )
                    changed_tables.add(table)
            marked = 0
            for scope, keys in (stale or {}).items():
                for key in keys:
                    con.execute(
                        "insert or replace into stale (scope, key, version) values (?, ?, ?)",
                        (scope, key, gen),
                    )
                    marked += 1
            if not changed_tables and not marked:
                return gen - 1
            summary = json.dumps({"tables": sorted(changed_tables), "stale_marks": marked})
            con.execute(
                "insert into generations (gen, committed_at, summary) values (?, ?, ?)",
                (gen, _now(), summary),
            )
            return gen

    # -- stale keys and the runs that refresh them -------------------------------------------

    def stale(self, scope: str) -> dict[str, int]:
        with self._tx(write=False) as con:
            rows = con.execute("select key, version from stale where scope = ?", (scope,))
            return dict(rows.fetchall())

    def claim(self, run_id: str, scope: str, keys: Iterable[str]) -> dict[str, int]:
        """Record that `run_id` recomputes `keys` from what is current now or later; returns the
        stale ones among them with their versions. A key already claimed by `run_id` keeps its
        first (older) version: a change marked after it stays stale after the run."""
        wanted = set(keys)
        with self._tx(write=True) as con:
            rows = con.execute("select key, version from stale where scope = ?", (scope,))
            claimed = {k: v for k, v in rows.fetchall() if k in wanted}
            con.executemany(
                "insert or ignore into claims (run_id, scope, key, version) values (?, ?, ?, ?)",
                [(run_id, scope, k, v) for k, v in claimed.items()],
            )
            return claimed

    def claimed(self, run_id: str, scope: str) -> list[str]:
        with self._tx(write=False) as con:
            rows = con.execute(
                "select key from claims where run_id = ? and scope = ? order by key",
                (run_id, scope),
            )
            return [r[0] for r in rows.fetchall()]

    def settle(self, run_id: str, *, succeeded: bool) -> int:
        """A run ended: on success its claimed keys are fresh unless marked again since; either
        way its claims go. Returns how many keys became fresh."""
        with self._tx(write=True) as con:
            fresh = 0
            if succeeded:
                fresh = con.execute(
                    "delete from stale where exists (select 1 from claims c where "
                    "c.run_id = ? and c.scope = stale.scope and c.key = stale.key "
                    "and stale.version <= c.version)",
                    (run_id,),
                ).rowcount
            con.execute("delete from claims where run_id = ?", (run_id,))
            return fresh

    def claiming_runs(self) -> list[str]:
        with self._tx(write=False) as con:
            return [r[0] for r in con.execute("select distinct run_id from claims").fetchall()]

    # -- housekeeping -------------------------------------------------------------------------

    def superseded(self) -> list[Superseded]:
        with self._tx(write=False) as con:
            rows = con.execute(
                f"select f.id, {', '.join('f.' + c.strip() for c in _ENTRY_COLUMNS.split(','))}, "
                "f.added_gen, f.removed_gen, g.committed_at from files f "
                "join generations g on g.gen = f.removed_gen "
                "where f.removed_gen is not null order by f.id"
            ).fetchall()
        return [
            Superseded(r[0], _entry(r[1:7]), r[7], r[8], datetime.fromisoformat(r[9]))
            for r in rows
        ]

    def referenced_paths(self) -> set[str]:
        """Every path the manifest knows, current or superseded."""
        with self._tx(write=False) as con:
            return {r[0] for r in con.execute("select distinct path from files").fetchall()}

    def current_paths(self) -> set[str]:
        with self._tx(write=False) as con:
            rows = con.execute("select path from files where removed_gen is null").fetchall()
            return {r[0] for r in rows}

    def drop_superseded(self, ids: Iterable[int]) -> None:
        with self._tx(write=True) as con:
            rows = [(i,) for i in ids]
            con.executemany("delete from files where id = ? and removed_gen is not null", rows)
            con.executemany("delete from forget_pending where file_id = ?", rows)

    def mark_forget_pending(self, ids: Iterable[int]) -> None:
        with self._tx(write=True) as con:
            con.executemany(
                "insert or ignore into forget_pending (file_id) values (?)", [(i,) for i in ids]
            )

    def forget_pending(self) -> set[int]:
        with self._tx(write=False) as con:
            return {r[0] for r in con.execute("select file_id from forget_pending").fetchall()}

    def purge_freed_pages(self) -> None:
        sqlite_db.purge_freed_pages(self.path)

    def record_snapshot(self, file: str, gen: int) -> None:
        with self._tx(write=True) as con:
            con.execute(
                "insert or replace into snapshots (file, gen, published_at) values (?, ?, ?)",
                (file, gen, _now()),
            )

    def snapshots(self) -> list[tuple[str, int, datetime]]:
        """Old catalogs: file (relative to the catalog's folder), generation, and when it was
        superseded."""
        with self._tx(write=False) as con:
            rows = con.execute("select file, gen, published_at from snapshots").fetchall()
        return [(file, gen, datetime.fromisoformat(at)) for file, gen, at in rows]

    def drop_snapshot(self, file: str) -> None:
        with self._tx(write=True) as con:
            con.execute("delete from snapshots where file = ?", (file,))


def _entry_values(entry: FileEntry) -> tuple:
    return (entry.table, entry.partition, entry.path, entry.rows, entry.bytes, entry.schema_hash)
