"""The lake writer and reader: typed Parquet per table and partition, immutable files, one
manifest.

A write conforms the data to the table's spec, writes it to a hidden temp file beside its final
place, fsyncs it and renames it to a name made of the partition and a hash of its bytes
(`plays/2026-01/2026-01-05.<hash>.parquet`), then commits the change to the manifest. A file is
never changed after that, so a reader holding it (an analyst's query, another run) always reads
one whole version. The same input gives the same bytes, hence the same name: re-running a
partition with unchanged input changes nothing at all.

Layout: `lake/<table>/<partition>.<hash>.parquet`, where a partition key may hold `/`
(`2026-01-05/alice`); keys that start with a date are filed under their month
(`2026-01/2026-01-05/alice.<hash>.parquet`), so a decade of days is ~120 folders, not 3,650
files side by side. Unpartitioned tables have the single key `data`.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import pyarrow as pa
import pyarrow.parquet as pq

from spotify_assets.lib.atomic import fsync_path, sweep_stale_temps
from spotify_assets.lib.lake import legacy
from spotify_assets.lib.lake.files import write_files
from spotify_assets.lib.lake.manifest import Change, FileEntry, Manifest
from spotify_assets.lib.lake.spec import (
    LakeFiles,
    TableSpec,
    conform,
    schema_hash,
    validate_partition_key,
    validate_table,
)
from spotify_assets.lib.process import exit_with_parent

if TYPE_CHECKING:
    import pandas as pd

UNPARTITIONED = "data"
LOCK_FILE = "_writers.lock"
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")

Data: TypeAlias = "pa.Table | pd.DataFrame | Sequence[Mapping[str, Any]]"


@dataclass(frozen=True)
class WrittenPartition:
    table: str
    partition: str
    path: Path | None  # None: the partition has no rows and no file
    rows: int


def table_doc(spec: TableSpec) -> str:
    """The table and column descriptions the catalog turns into comments, as JSON."""
    doc = {
        "table": spec.name,
        "doc": spec.doc,
        "partitioned": spec.partitioned,
        "columns": [{"name": c.name, "type": str(c.type), "doc": c.doc} for c in spec.columns],
        # The schema itself, so the catalog can give a table with no rows yet typed columns.
        "arrow_schema": base64.b64encode(spec.schema.serialize().to_pybytes()).decode(),
    }
    return json.dumps(doc, indent=2, sort_keys=True)


@contextlib.contextmanager
def _flock(root: Path, operation: int) -> Iterator[None]:
    root.mkdir(parents=True, exist_ok=True)
    with open(root / LOCK_FILE, "a") as handle:
        fcntl.flock(handle, operation)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _runs(keys: pa.StringArray) -> tuple[list[str], list[int]]:
    """Values of a sorted column and how many rows each spans, in order."""
    import pyarrow.compute as pc

    if keys.null_count:
        raise ValueError("partition key column has nulls")
    if not len(keys):
        return [], []
    encoded = pc.run_end_encode(keys)
    ends = encoded.run_ends.to_pylist()
    counts = [end - start for start, end in zip([0, *ends[:-1]], ends, strict=True)]
    return encoded.values.to_pylist(), counts


class Lake:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.manifest = Manifest(self.root, on_create=lambda m: legacy.adopt(m, self.root))
        # Told of every table written (as conformed to its spec), before the commit: the
        # pipeline previews what a run wrote on the asset's page.
        self.observers: list[Callable[[TableSpec, pa.Table], None]] = []

    # -- where files go -------------------------------------------------------------------

    def table_dir(self, table: str) -> Path:
        return self.root / validate_table(table)

    @staticmethod
    def _leaf(partition: str) -> tuple[tuple[str, ...], str]:
        """(folder under the table's, as path segments; file stem) of a partition's files."""
        segments = validate_partition_key(partition).split("/")
        if _DAY.match(segments[0]):
            segments.insert(0, segments[0][:7])
        return tuple(segments[:-1]), segments[-1]

    def _stage_many(
        self, table_name: str, parts: Mapping[str, pa.Table], *, keep_empty: bool = False
    ) -> dict[str, FileEntry | None]:
        """Stage every part as a new immutable file (`write_files`; not yet committed); empty
        parts get no file unless `keep_empty`. The parts share one schema (a write conforms
        them to its spec), hashed once: per day file that bookkeeping was a tenth of the Python
        time. If any fails, nothing is committed."""
        staged: dict[str, FileEntry | None] = {p: None for p in parts}
        # Paths as text, relative to the lake's root (a manifest entry's path) and absolute,
        # each folder's made once: see `StagedFile`.
        table_dir = validate_table(table_name)
        folders: dict[tuple[str, ...], tuple[str, str]] = {}
        jobs = []
        for partition, table in parts.items():
            if not (table.num_rows or keep_empty):
                continue
            segments, stem = self._leaf(partition)
            if segments not in folders:
                relative = "/".join((table_dir, *segments))
                folders[segments] = (relative, os.path.join(self.root, relative))
            jobs.append((partition, table, folders[segments], stem))
        for _, folder in folders.values():
            os.makedirs(folder, exist_ok=True)
            sweep_stale_temps(Path(folder))
        if not jobs:
            return staged
        written = write_files([(folder, stem, table) for _, table, (_, folder), stem in jobs])
        shared = schema_hash(jobs[0][1].schema)
        for (partition, table, (relative, _), _), file in zip(jobs, written, strict=True):
            path = f"{relative}/{os.path.basename(file.path)}"
            staged[partition] = FileEntry(
                table_name, partition, path, table.num_rows, file.size, shared
            )
        return staged

    def _commit(self, changes: list[Change], **kwargs: Any) -> int:
        """Commit changes that name new files, once their folders are fsynced: a file renamed
        into place survives a power loss only with its folder, and the manifest must never
        name a file that could come back missing."""
        for folder in {os.path.dirname(c.entry.path) for c in changes if c.entry}:
            fsync_path(self.root / folder)
        return self.manifest.commit(changes, lake_root=self.root, **kwargs)

    # -- writing ----------------------------------------------------------------------------

    def _observe(self, spec: TableSpec, table: pa.Table) -> None:
        for observe in self.observers:
            observe(spec, table)

    def write(
        self,
        spec: TableSpec,
        data: Data,
        partition: str | None = None,
        *,
        stale: Mapping[str, Iterable[str]] | None = None,
    ) -> WrittenPartition:
        """Replace one partition (or the whole unpartitioned table) with `data`, even if empty:
        an empty write keeps an empty file, so the partition still exists."""
        with self.transaction(stale=stale) as tx:
            return tx.write(spec, data, partition)

    def write_partitions(
        self,
        spec: TableSpec,
        data: Data,
        key_column: str,
        partitions: Sequence[str],
        *,
        stale: Mapping[str, Iterable[str]] | None = None,
    ) -> dict[str, int]:
        """Replace every partition in `partitions` with the rows of `data` whose `key_column`
        (as ISO text, e.g. a date) names it, in one commit; a partition without rows is
        removed (no file), so a range of days costs one file per day with plays."""
        with self.transaction(stale=stale) as tx:
            return tx.write_partitions(spec, data, key_column, partitions)

    @contextlib.contextmanager
    def transaction(
        self, *, stale: Mapping[str, Iterable[str]] | None = None
    ) -> Iterator[LakeTransaction]:
        """Writes (of any tables) that become current together, in one commit at the end; on
        an exception nothing is committed (staged files are swept by housekeeping)."""
        self.manifest.ensure()  # before any file is staged: a new manifest adopts what it finds
        exit_with_parent()
        with self.writing():
            tx = LakeTransaction(self)
            yield tx
            tx.commit(stale=stale)

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Held (shared) from staging a file until its commit: housekeeping deletes files only
        under the exclusive lock, so it never removes a file a writer has just re-created under
        the same name (identical content, identical name) and is about to commit."""
        with _flock(self.root, fcntl.LOCK_SH):
            yield

    @contextlib.contextmanager
    def deleting(self, timeout_s: float) -> Iterator[bool]:
        """The exclusive side of `writing`; yields False when writers kept it for `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with _flock(self.root, fcntl.LOCK_EX | fcntl.LOCK_NB):
                    yield True
                    return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    yield False
                    return
                time.sleep(0.1)

    def delete_partitions(self, table: str, partitions: Iterable[str]) -> int:
        """Remove partitions (their files become superseded); returns the new generation."""
        changes = [Change(validate_table(table), p, None) for p in partitions]
        return self.manifest.commit(changes)

    def mark_stale(self, scope: str, keys: Iterable[str]) -> int:
        return self.manifest.commit([], stale={scope: keys})

    def remove_user_rows(self, user_id: str) -> tuple[int, int]:
        """Drop a user's rows from every current file of every table with a `user_id` column,
        and the partitions named after them, in one commit: (rows, partitions rewritten or
        removed). A partition left empty is removed. The
        superseded files still hold the rows until `housekeeping.forget` removes them."""
        from spotify_assets.lib.ids import validate_user_id

        validate_user_id(user_id)
        changes: list[Change] = []
        with self.writing():
            rows, files = self._without_user(user_id, changes)
            self._commit(changes)
        return rows, files

    def _without_user(self, user_id: str, changes: list[Change]) -> tuple[int, int]:
        import pyarrow.compute as pc

        rows = files = 0
        for entry in self.manifest.current():
            data = pq.read_table(self.root / entry.path)
            if user_id in entry.partition.split("/"):
                # The user's own partition (even an empty one): its very name is theirs.
                rows += data.num_rows
                files += 1
                changes.append(Change(entry.table, entry.partition, None))
                continue
            if "user_id" not in data.column_names:
                continue
            keep = pc.fill_null(pc.not_equal(data.column("user_id"), user_id), True)
            kept = data.filter(keep)
            if kept.num_rows == data.num_rows:
                continue
            rows += data.num_rows - kept.num_rows
            files += 1
            # A partition left without rows gets no file: it is removed (None).
            new = self._stage_many(entry.table, {entry.partition: kept})[entry.partition]
            changes.append(Change(entry.table, entry.partition, new))
        return rows, files

    # -- reading ----------------------------------------------------------------------------

    def generation(self) -> int:
        return self.manifest.generation()

    def tables(self) -> list[str]:
        """Tables with a doc or a current file."""
        _, entries, docs = self.manifest.snapshot()
        return sorted({e.table for e in entries} | set(docs))

    def entries(self, table: str, partitions: Iterable[str] | None = None) -> list[FileEntry]:
        return self.manifest.current(validate_table(table), partitions)

    def partitions(self, table: str) -> list[str]:
        return [e.partition for e in self.entries(table)]

    def has_partition(self, table: str, partition: str) -> bool:
        return bool(self.entries(table, [partition]))

    def files(self, table: str, partitions: Iterable[str] | None = None) -> LakeFiles:
        """Absolute paths of the current files (of some partitions), by partition."""
        entries = self.entries(table, partitions)
        return LakeFiles([self.root / e.path for e in entries], [e.schema_hash for e in entries])

    def read(self, table: str, partition: str | None = None) -> pa.Table:
        parts = None if partition is None else [partition]
        files = self.files(table, parts)
        if not files:
            raise FileNotFoundError(
                f"lake table {table} has no partition {partition!r}"
                if partition is not None
                else f"lake table {table} has no partitions"
            )
        return pa.concat_tables([pq.read_table(f) for f in files], promote_options="default")


class LakeTransaction:
    """Staged writes of one commit; thread-safe, so a run's threads can write side by side."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self._changes: dict[tuple[str, str], Change] = {}
        self._docs: dict[str, str] = {}
        self._lock = threading.Lock()

    def _add(self, spec: TableSpec, staged: Mapping[str, FileEntry | None]) -> None:
        with self._lock:
            self._docs[spec.name] = table_doc(spec)
            for partition, entry in staged.items():
                self._changes[(spec.name, partition)] = Change(spec.name, partition, entry)

    def write(self, spec: TableSpec, data: Data, partition: str | None = None) -> WrittenPartition:
        if spec.partitioned and partition is None:
            raise ValueError(f"table {spec.name} is partitioned: pass a partition key")
        if not spec.partitioned and partition is not None:
            raise ValueError(f"table {spec.name} is not partitioned")
        key = UNPARTITIONED if partition is None else partition
        table = conform(spec, data)
        self.lake._observe(spec, table)
        # Staged as many are (folder made, a killed writer's temps swept): one way to stage.
        entry = self.lake._stage_many(spec.name, {key: table}, keep_empty=True)[key]
        self._add(spec, {key: entry})
        return WrittenPartition(spec.name, key, self.lake.root / entry.path, table.num_rows)

    def write_each(self, spec: TableSpec, parts: Mapping[str, Data]) -> dict[str, int]:
        """`write` of each partition in `parts` (an empty one keeps an empty file), their files
        encoded several at a time: a zip's 51 history files took 1.6 s one after another."""
        if not spec.partitioned:
            raise ValueError(f"table {spec.name} is not partitioned")
        tables: dict[str, pa.Table] = {}
        for partition, data in parts.items():
            tables[validate_partition_key(partition)] = table = conform(spec, data)
            self.lake._observe(spec, table)  # in the caller's thread: it knows the run
        self._add(spec, self.lake._stage_many(spec.name, tables, keep_empty=True))
        return {p: t.num_rows for p, t in tables.items()}

    def write_partitions(
        self, spec: TableSpec, data: Data, key_column: str, partitions: Sequence[str]
    ) -> dict[str, int]:
        import pyarrow.compute as pc

        if not spec.partitioned:
            raise ValueError(f"table {spec.name} is not partitioned")
        # One sort, by partition and then the spec's order: the order a stable sort by
        # partition of the spec-sorted table gives, without sorting every row twice.
        table = conform(spec, data, order=[key_column, *spec.sort_by])
        self.lake._observe(spec, table)
        keys = pc.cast(table.column(key_column), pa.string()).combine_chunks()
        slices: dict[str, pa.Table] = {}
        first = 0
        for key, count in zip(*_runs(keys), strict=True):
            slices[key] = table.slice(first, count)
            first += count
        stray = sorted(set(slices) - set(partitions))
        if stray:
            raise ValueError(f"table {spec.name}: rows for partitions not written: {stray[:5]}")
        empty = table.slice(0, 0)
        parts = {validate_partition_key(p): slices.get(p, empty) for p in partitions}
        self._add(spec, self.lake._stage_many(spec.name, parts))
        return {p: t.num_rows for p, t in parts.items()}

    def commit(self, *, stale: Mapping[str, Iterable[str]] | None = None) -> int:
        with self._lock:
            changes, docs = list(self._changes.values()), dict(self._docs)
            self._changes.clear()
        return self.lake._commit(changes, docs=docs, stale=stale)
