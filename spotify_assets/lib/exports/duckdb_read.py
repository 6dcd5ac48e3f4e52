"""DuckDB's side of parsing an export: this thread's connection, and a file's rows read as
candidates, in order: as columns when its rows are valid (`column_row_sql`), else element by
element (`row_sql`); a large file in pieces, one thread each (`pieces.py`).
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import pyarrow as pa

from spotify_assets.lib.exports.candidates_sql import (
    can_read_as_columns,
    column_row_sql,
    row_sql,
    unquote_strings,
)
from spotify_assets.lib.exports.errors import CorruptExportError, UnrecognizedExportError
from spotify_assets.lib.exports.formats import FormatSpec
from spotify_assets.lib.exports.json_stream import IntegerOverflow, Reader, elements, usual_keys
from spotify_assets.lib.exports.pieces import pieces_of

# Progress of a parse: (rows read so far, fraction of the file read; None where unknown). Called
# once per batch of rows, from the parsing thread.
ParseProgress = Callable[[int, float | None], None]
BATCH_ROWS = 20_000


_THREAD = threading.local()


@contextlib.contextmanager
def connection() -> Iterator[duckdb.DuckDBPyConnection]:
    """This thread's DuckDB connection, made once per thread (it goes with the thread): a new
    one cost 17 ms, once per file of a zip's 51. One that saw an error is closed, not reused."""
    con = getattr(_THREAD, "con", None)
    if con is None:
        con = duckdb.connect(config={"preserve_insertion_order": True})
        # Tracked, for the importer's progress (`query_progress`), but never printed: DuckDB's
        # own bar would land in the CLI's stdout and in the run's captured output.
        con.execute("set enable_progress_bar = true")
        con.execute("set enable_progress_bar_print = false")
        _THREAD.con = con
    try:
        yield con
    except BaseException:
        _THREAD.con = None
        con.close()
        raise


class DuckDBRejected(Exception):
    """DuckDB could not read the file (its streamed result surfaces errors as Arrow errors)."""


def _read_all(
    con: duckdb.DuckDBPyConnection,
    relation: duckdb.DuckDBPyRelation,
    progress: ParseProgress | None = None,
) -> pa.Table:
    # Streaming the result in batches keeps DuckDB from holding a second full copy of it.
    try:
        reader = relation.to_arrow_reader(BATCH_ROWS)
        if progress is None:
            return reader.read_all()
        batches, rows = [], 0
        for batch in reader:
            batches.append(batch)
            rows += batch.num_rows
            done = con.query_progress()  # percent of the scan, -1 when DuckDB cannot tell
            progress(rows, done / 100 if done >= 0 else None)
        return pa.Table.from_batches(batches, reader.schema)
    except (duckdb.Error, pa.ArrowException, OSError) as exc:
        raise DuckDBRejected(str(exc)) from exc


_SOURCE = "(SELECT json AS raw FROM read_json_objects($paths, format='array'))"
# Columns named by the first element's keys, each value as JSON text: what `column_row_sql` reads.
# An element is ~300 bytes: one of over 1 MiB fails the read, and is read element by element.
# `records=true`: left to detect, DuckDB read 18 ms of a 12 MB file to find out (3 ms now).
_COLUMNS = (
    "read_json($paths, format='array', records=true, sample_size=1, maximum_depth=1, "
    "maximum_object_size=1048576)"
)


def read_rows(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    spec: FormatSpec,
    keys: tuple[str, ...],
    progress: ParseProgress | None,
) -> tuple[pa.Table, bool]:
    """The file's candidates, in order, and whether they were read as columns.

    A large file is read in pieces, several threads at once. Read as columns first (a file of
    valid rows, all with the first element's keys: nearly every export); read again element by
    element, which finds every problem of every row, when that fails. When DuckDB rejects a
    piece (a bad cut, or a bad file), the whole file is read on one thread.
    """
    progress = _never_back(progress) if progress is not None else None
    with contextlib.ExitStack() as stack:
        paths = [path] if path.suffix == ".gz" else stack.enter_context(pieces_of(path))
        if can_read_as_columns(spec, keys):
            table = _read_columns(con, paths, spec, keys, progress)
            if table is not None:
                return table, True
        sql = row_sql(spec, _SOURCE, keys)
        if len(paths) > 1:
            with contextlib.suppress(DuckDBRejected, duckdb.Error):
                return _read_pieces(paths, sql, progress), False
    return _read_one(con, path, sql, progress), False


def _read_columns(
    con: duckdb.DuckDBPyConnection,
    paths: list[Path],
    spec: FormatSpec,
    keys: tuple[str, ...],
    progress: ParseProgress | None,
) -> pa.Table | None:
    """The candidates read as columns, or None when a row needs reading element by element: a
    key other than `keys` (DuckDB raises), a piece that starts with other keys, a bad value."""
    # DuckDB takes a piece's columns from its first element, and ignores any key beyond the
    # columns a query names: every piece must start with the file's keys. (Asking DuckDB, a
    # DESCRIBE, costs more than the faster read saves on a 12 MB file.)
    if any(sorted(_first_keys(piece)) != sorted(keys) for piece in paths[1:]):
        return None
    try:
        # One DuckDB thread: it reads an array file on one thread anyway, and a second one
        # only holds more of the file in memory (+73 MB for a 200 MB piece, measured).
        sql = column_row_sql(spec, _COLUMNS, keys)
        unquote = functools.partial(unquote_strings, spec)
        if len(paths) > 1:
            table = _read_pieces(paths, sql, progress, threads=1, then=unquote)
        else:
            table = unquote(_read_one(con, paths[0], sql, progress, threads=1))
    except (DuckDBRejected, duckdb.Error):
        return None
    if table.column("_reason").null_count < table.num_rows:
        return None
    return table.drop_columns(["_unread_nulls"])


def _first_keys(path: Path) -> tuple[str, ...]:
    """The keys of the first element of a JSON array file; () when it has none or is not read."""
    try:
        with open(path, "rb") as stream:
            return usual_keys(next(elements(Reader(stream), path.name), None))
    except (CorruptExportError, UnrecognizedExportError, IntegerOverflow, OSError):
        return ()


def _never_back(progress: ParseProgress) -> ParseProgress:
    """`progress`, told nothing below what it was already told: a second read of the file (see
    `read_rows`) reports again from its start."""
    furthest = [0, 0.0]

    def report(rows: int, fraction: float | None) -> None:
        if rows >= furthest[0] and (fraction is None or fraction >= furthest[1]):
            furthest[0], furthest[1] = rows, fraction or furthest[1]
            progress(rows, fraction)

    return report


def _read_one(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    sql: str,
    progress: ParseProgress | None,
    threads: int | None = None,
) -> pa.Table:
    """`sql` over the file at `path`, on `threads` of DuckDB's (its default when None)."""
    if threads is not None:
        con.execute(f"SET threads = {threads}")
    try:
        return _read_all(con, con.sql(sql, params={"paths": [str(path)]}), progress)
    finally:
        if threads is not None:
            con.execute("RESET threads")


def _read_pieces(
    paths: list[Path],
    sql: str,
    progress: ParseProgress | None,
    threads: int | None = None,
    then: Callable[[pa.Table], pa.Table] | None = None,
) -> pa.Table:
    """One query per piece, each on its own thread and connection: a query over several files
    that keeps their order runs on one thread (DuckDB orders the result by scanning in order),
    so the order is kept by concatenating the pieces' results instead. `then` is applied to
    each piece's result, in its thread."""
    sizes = [p.stat().st_size for p in paths]
    seen = [(0, 0.0)] * len(paths)  # each piece's rows and fraction read so far
    lock = threading.Lock()

    def read(index: int) -> pa.Table:
        def on_batch(rows: int, fraction: float | None) -> None:
            with lock:  # reported inside: the totals reach `progress` in the order they grew
                seen[index] = (rows, fraction or 0.0)
                read_bytes = sum(f * size for (_, f), size in zip(seen, sizes, strict=True))
                if progress is not None:
                    progress(sum(r for r, _ in seen), read_bytes / sum(sizes))

        with connection() as con:
            table = _read_one(con, paths[index], sql, on_batch, threads)
        return then(table) if then is not None else table

    with ThreadPoolExecutor(len(paths), thread_name_prefix="export-piece") as pool:
        return pa.concat_tables(list(pool.map(read, range(len(paths)))))
