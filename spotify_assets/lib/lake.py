"""The lake writer: typed Parquet per table and partition, published atomically.

Layout: `lake/<table>/<partition>.parquet` (`<partition>` may hold `/`, e.g. `2026-01-05/alice`)
and `lake/<table>/data.parquet` for unpartitioned tables; `lake/<table>/_table.json` carries the
table and column descriptions the catalog turns into comments. A write replaces its partition
whole (temp file + rename), so re-running a partition is idempotent and a killed writer leaves
the previous file intact. Row order and file metadata are deterministic, so the same input gives
byte-identical files.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from spotify_assets.lib.atomic import (
    sweep_stale_temps,
    write_bytes_atomic,
    write_many_with,
    write_with,
)

if TYPE_CHECKING:
    import pandas as pd

_TABLE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_SEGMENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.=-]{0,127}$")
UNPARTITIONED = "data"


@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    doc: str
    nullable: bool = True


@dataclass(frozen=True)
class TableSpec:
    """A lake table: its name (= asset name = lake folder), grain and explicit schema."""

    name: str
    doc: str
    columns: Sequence[Column]
    sort_by: Sequence[str] = ()
    partitioned: bool = True
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not _TABLE.match(self.name):
            raise ValueError(f"invalid table name {self.name!r}")

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, c.type, nullable=c.nullable) for c in self.columns])

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


class SchemaMismatchError(ValueError):
    pass


def conform(
    spec: TableSpec, data: pa.Table | pd.DataFrame | Sequence[Mapping[str, Any]]
) -> pa.Table:
    """`data` as an Arrow table of exactly the spec's schema, sorted; or SchemaMismatchError."""
    if isinstance(data, pa.Table):
        table = data
    elif isinstance(data, Sequence) and not hasattr(data, "columns"):
        rows = list(data)
        # from_pylist would silently drop keys the schema lacks: check them first.
        unknown_keys = sorted({k for row in rows for k in row} - set(spec.column_names))
        if unknown_keys:
            raise SchemaMismatchError(f"table {spec.name}: unknown columns {unknown_keys}")
        try:
            nullable = pa.schema([f.with_nullable(True) for f in spec.schema])
            table = pa.Table.from_pylist(rows, schema=nullable)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as exc:
            raise SchemaMismatchError(f"table {spec.name}: {exc}") from exc
    else:
        table = pa.Table.from_pandas(data, preserve_index=False)
    names = set(table.column_names)
    expected = spec.column_names
    unknown = sorted(names - set(expected))
    missing = [c.name for c in spec.columns if c.name not in names]
    if unknown or missing:
        raise SchemaMismatchError(
            f"table {spec.name}: unknown columns {unknown}, missing columns {missing}"
        )
    table = table.select(expected)
    for column in spec.columns:
        if not column.nullable and table.column(column.name).null_count:
            raise SchemaMismatchError(f"table {spec.name}: column {column.name} has nulls")
    try:
        table = table.cast(spec.schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        raise SchemaMismatchError(f"table {spec.name}: {exc}") from exc
    if spec.sort_by and table.num_rows:
        table = table.sort_by([(c, "ascending") for c in spec.sort_by])
    return table.replace_schema_metadata(None)


def _write_parquet(table: pa.Table, path: Path) -> None:
    pq.write_table(table, path, compression="zstd", write_statistics=True, store_schema=True)


@dataclass(frozen=True)
class WrittenPartition:
    table: str
    partition: str
    path: Path
    rows: int


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


def _published_files(directory: Path) -> Iterator[Path]:
    """Parquet files under `directory` a reader may see (temp files are hidden dot-files)."""
    return (p for p in directory.rglob("*.parquet") if not p.name.startswith("."))


class Lake:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def table_dir(self, table: str) -> Path:
        if not _TABLE.match(table):
            raise ValueError(f"invalid table name {table!r}")
        return self.root / table

    def partition_path(self, table: str, partition: str | None) -> Path:
        key = UNPARTITIONED if partition is None else partition
        segments = key.split("/")
        if not all(_SEGMENT.match(s) and s not in (".", "..") for s in segments):
            raise ValueError(f"invalid partition key {key!r}")
        return self.table_dir(table).joinpath(*segments[:-1], f"{segments[-1]}.parquet")

    def write(
        self,
        spec: TableSpec,
        data: pa.Table | pd.DataFrame | Sequence[Mapping[str, Any]],
        partition: str | None = None,
    ) -> WrittenPartition:
        """Replace one partition (or the whole unpartitioned table) with `data`."""
        if spec.partitioned and partition is None:
            raise ValueError(f"table {spec.name} is partitioned: pass a partition key")
        if not spec.partitioned and partition is not None:
            raise ValueError(f"table {spec.name} is not partitioned")
        table = conform(spec, data)
        target = self.partition_path(spec.name, partition)
        sweep_stale_temps(target.parent)
        self._write_table_doc(spec)
        write_with(target, lambda tmp: _write_parquet(table, tmp))
        return WrittenPartition(spec.name, partition or UNPARTITIONED, target, table.num_rows)

    def write_partitions(
        self,
        spec: TableSpec,
        data: pa.Table | pd.DataFrame | Sequence[Mapping[str, Any]],
        key_column: str,
        partitions: Sequence[str],
    ) -> dict[str, int]:
        """Replace every partition in `partitions` with the rows of `data` whose `key_column`
        (as ISO text, e.g. a date) names it; a partition without rows gets an empty file.

        Each file is published like `write` (temp file, fsync, rename), several at a time; a
        range run writes thousands of day files, and per-file overheads dominated it.
        """
        import pyarrow.compute as pc

        if not spec.partitioned:
            raise ValueError(f"table {spec.name} is not partitioned")
        table = conform(spec, data)
        # A stable sort keeps the spec's order inside each partition.
        table = table.sort_by([(key_column, "ascending")]) if table.num_rows else table
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
        parts = {p: slices.get(p, empty) for p in partitions}
        targets = {p: self.partition_path(spec.name, p) for p in partitions}
        for directory in {t.parent for t in targets.values()}:
            sweep_stale_temps(directory)
        self._write_table_doc(spec)
        write_many_with(
            [
                (target, lambda tmp, t=parts[p]: _write_parquet(t, tmp))
                for p, target in targets.items()
            ]
        )
        return {p: part.num_rows for p, part in parts.items()}

    def delete_partition(self, table: str, partition: str | None) -> bool:
        path = self.partition_path(table, partition)
        if path.exists():
            path.unlink()
            return True
        return False

    def remove_user_rows(self, user_id: str) -> tuple[int, int]:
        """Drop a user's rows from every table with a `user_id` column: (rows, files rewritten).

        Each file is rewritten atomically without the user's rows, keeping its schema; a file
        left empty is kept (empty), so the partition still reads as materialized.
        """
        import pyarrow.compute as pc

        from spotify_assets.lib.ids import validate_user_id

        validate_user_id(user_id)
        rows = files = 0
        for table in self.tables():
            for path in self.files(table):
                data = pq.read_table(path)
                if "user_id" not in data.column_names:
                    break
                keep = pc.fill_null(pc.not_equal(data.column("user_id"), user_id), True)
                kept = data.filter(keep)
                if kept.num_rows == data.num_rows:
                    continue
                rows += data.num_rows - kept.num_rows
                files += 1
                write_with(path, lambda tmp, t=kept: _write_parquet(t, tmp))
        return rows, files

    def _write_table_doc(self, spec: TableSpec) -> None:
        doc = {
            "table": spec.name,
            "doc": spec.doc,
            "partitioned": spec.partitioned,
            "columns": [{"name": c.name, "type": str(c.type), "doc": c.doc} for c in spec.columns],
        }
        body = (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()
        path = self.table_dir(spec.name) / "_table.json"
        if not path.exists() or path.read_bytes() != body:
            write_bytes_atomic(path, body)

    def tables(self) -> list[str]:
        if not self.root.exists():
            return []
        return sorted(
            p.name for p in self.root.iterdir() if p.is_dir() and any(_published_files(p))
        )

    def files(self, table: str) -> Iterator[Path]:
        directory = self.table_dir(table)
        if directory.exists():
            yield from sorted(_published_files(directory))

    def partitions(self, table: str) -> list[str]:
        directory = self.table_dir(table)
        return [str(p.relative_to(directory).with_suffix("")) for p in self.files(table)]

    def read(self, table: str, partition: str | None = None) -> pa.Table:
        if partition is not None:
            return pq.read_table(self.partition_path(table, partition))
        files = list(self.files(table))
        if not files:
            raise FileNotFoundError(f"lake table {table} has no partitions")
        return pa.concat_tables([pq.read_table(f) for f in files], promote_options="default")

    def glob(self, table: str) -> str:
        """The DuckDB glob that reads every published file of a table."""
        return str(self.table_dir(table).resolve() / "**" / "*.parquet")
