"""Parse one export file into `play_observations` rows, a malformed-row list and a report.

All or nothing per file: the whole file is parsed into an in-memory Arrow table first and
`parse_export_file` returns only when every row is accounted for; any error (corrupt JSON,
unknown format, bytes not matching the announced sha256) raises and returns nothing, so the
caller publishes either all of a file or none of it.

PII is dropped here: `ip_addr`, `ip_addr_decrypted`, `username` and `user_agent_decrypted` have
no column, never reach `extra`, and are scrubbed from malformed rows (schema.py says why).

Two engines, one set of rules (candidates_sql.py), same output (tested row for row):

- `ijson`: streams the top-level array with ijson's C backend (`use_float=True`), never holding
  the whole file; serialises each element back to compact JSON and feeds batches of 20,000 to
  the normaliser. Works on any stream, and is the one that says where a corrupt file breaks
  (array element and byte offset). ~40k rows/s.
- `duckdb` (`duckdb_read.py`): DuckDB over a local file (a zip member is first spooled to a
  temp file), ~4x faster. `auto` picks it from 8 MiB on. It reads the rows as columns first
  (`read_json`, one column per key of the first element: `column_row_sql`), which holds for a
  file of valid rows with no key beyond the first element's; if any row is not, it reads the
  file again element by element (`read_json_objects`: `row_sql`), which says what is wrong with
  each row. If DuckDB rejects the file, the ijson engine re-parses it, so errors are always
  reported the same way.

Measured with bench.py (1M synthetic extended rows, 603 MB compact JSON, 2 shared cores):
duckdb 3.4-3.6 s as columns on one thread (4.4-4.5 s element by element), ijson 24-27 s (~40k
rows/s), peak RSS 0.6-0.75 GB for either (the observations table itself is ~310 MB). Read in two
pieces at once (pieces.py), as columns: 2.1-2.4 s (2026-12). A bare DuckDB `read_json` +
`GROUP BY` day over the same file takes ~1.5 s: the difference is the columns it does not
read, per-field type validation, unknown-key detection and the malformed/duplicate
bookkeeping.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import hashlib
import itertools
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import duckdb
import numpy as np
import pyarrow as pa

from spotify_assets.lib.exports.candidates_sql import row_sql
from spotify_assets.lib.exports.duckdb_read import (
    BATCH_ROWS,
    DuckDBRejected,
    ParseProgress,
    connection,
    read_rows,
)
from spotify_assets.lib.exports.errors import FileChangedError
from spotify_assets.lib.exports.formats import SPECS, ExportFormat, FormatSpec
from spotify_assets.lib.exports.inbox import ExportFile, hash_stream
from spotify_assets.lib.exports.json_stream import (
    EXACT_BACKEND,
    FAST_BACKEND,
    IntegerOverflow,
    Reader,
    detect,
    dump,
    elements,
    usual_keys,
)
from spotify_assets.lib.exports.normalize import (
    DuplicateRow,
    MalformedRow,
    Normalized,
    finish,
)
from spotify_assets.lib.exports.report import ImportReport
from spotify_assets.lib.exports.schema import OBSERVATION_SCHEMA
from spotify_assets.lib.ids import validate_user_id

Engine = Literal["auto", "ijson", "duckdb"]
# Files of one item parsed at once (a zip's ~12 MB files): DuckDB reads a JSON array on one
# thread, so two files keep both cores of a small machine busy.
PARSE_THREADS = 2
FAST_PATH_MIN_BYTES = 8 * 1024**2


@dataclass(frozen=True)
class ParsedExport:
    format: ExportFormat
    observations: pa.Table  # OBSERVATION_SCHEMA, in file order
    malformed: list[MalformedRow]
    duplicates: list[DuplicateRow]
    report: ImportReport
    engine: str  # which engine produced it: "ijson" or "duckdb"
    # DuckDB read the rows as columns (`column_row_sql`), not element by element (`row_sql`).
    read_as_columns: bool = False


def parse_export_file(
    user_id: str,
    export_file: ExportFile,
    engine: Engine = "auto",
    spool_dir: Path | None = None,
    verify: bool = True,
    progress: ParseProgress | None = None,
) -> ParsedExport:
    """Parse one export file completely, or raise (nothing partial is ever returned).

    `auto` uses DuckDB from FAST_PATH_MIN_BYTES on (a zip member is first copied, streamed,
    to a temp file in `spool_dir`), ijson below that. `ijson`/`duckdb` force an engine.
    `verify=False` skips re-hashing a local file beside DuckDB's read, for a caller that
    reads and checks the same bytes itself before it commits anything (the importer's raw
    landing).
    `progress` is told how far the parse got after each batch of rows.
    """
    validate_user_id(user_id)
    if engine == "ijson" or (engine == "auto" and export_file.size < FAST_PATH_MIN_BYTES):
        return _parse_with_ijson(user_id, export_file, progress)
    try:
        if export_file.local_path is not None:
            return _parse_with_duckdb(
                user_id, export_file, export_file.local_path, verify, progress
            )
        with _spooled(export_file, spool_dir) as path:
            return _parse_with_duckdb(user_id, export_file, path, False, progress)
    except (duckdb.Error, DuckDBRejected):
        pass  # DuckDB only says "malformed"; the streaming parser says where (or disagrees)
    return _parse_with_ijson(user_id, export_file, progress)


def parse_export_path(
    user_id: str, path: Path, name: str | None = None, engine: Engine = "auto"
) -> ParsedExport:
    """Parse a local `.json` (or `.json.gz`) file; `name` overrides the file name hint."""
    return parse_export_file(user_id, ExportFile.from_path(Path(path), name), engine)


def _run_batch(
    con: duckdb.DuckDBPyConnection, sql: str, rows: list[int], raws: list[str]
) -> pa.Table:
    batch = pa.table({"file_row": pa.array(rows, pa.int64()), "raw": pa.array(raws, pa.string())})
    con.register("batch", batch)
    try:
        return con.sql(sql).to_arrow_table()
    finally:
        con.unregister("batch")


def _parse_with_ijson(
    user_id: str, export_file: ExportFile, progress: ParseProgress | None = None
) -> ParsedExport:
    try:
        return _parse_with_backend(user_id, export_file, FAST_BACKEND, progress)
    except IntegerOverflow:
        return _parse_with_backend(user_id, export_file, EXACT_BACKEND, progress)


def _parse_with_backend(
    user_id: str, export_file: ExportFile, backend: object, progress: ParseProgress | None
) -> ParsedExport:
    name = export_file.origin
    with export_file.open_stream() as stream:
        reader = Reader(stream)
        items = elements(reader, name, backend)
        fmt, first = detect(items, export_file.name)
        parts: list[pa.Table] = []
        with connection() as con:
            if first is not None:
                sql = row_sql(SPECS[fmt], "batch", usual_keys(first), ("file_row",))
                rows: list[int] = []
                raws: list[str] = []
                for index, element in enumerate(itertools.chain([first], items)):
                    rows.append(index)
                    raws.append(dump(element))
                    if len(raws) >= BATCH_ROWS:
                        parts.append(_run_batch(con, sql, rows, raws))
                        rows, raws = [], []
                        if progress is not None:
                            progress(index + 1, reader.consumed / max(export_file.size, 1))
                if raws:
                    parts.append(_run_batch(con, sql, rows, raws))
            reader.drain()
            sha256 = reader.sha256.hexdigest()
            _check_hash(export_file, sha256)
            return _result(con, user_id, export_file, fmt, parts, sha256, "ijson")


def _check_hash(export_file: ExportFile, sha256: str) -> None:
    if sha256 != export_file.sha256:
        raise FileChangedError(
            f"{export_file.origin}: bytes parsed hash to {sha256[:12]}, announced as "
            f"{export_file.sha256[:12]}; the file changed while importing, nothing was imported"
        )


def _peek_format(path: Path, export_file: ExportFile) -> tuple[ExportFormat, tuple[str, ...]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as stream:
        reader = Reader(stream)
        fmt, first = detect(elements(reader, export_file.origin), export_file.name)
        return fmt, usual_keys(first)


@contextlib.contextmanager
def _spooled(export_file: ExportFile, spool_dir: Path | None) -> Iterator[Path]:
    """A private temp copy of a non-local file (e.g. a zip member), hash-checked on the way."""
    with tempfile.NamedTemporaryFile(dir=spool_dir, suffix=".json") as spool:
        digest = hashlib.sha256()
        with export_file.open_stream() as stream:
            while chunk := stream.read(1 << 20):
                digest.update(chunk)
                spool.write(chunk)
        spool.flush()
        _check_hash(export_file, digest.hexdigest())
        yield Path(spool.name)


def _hash_in_thread(export_file: ExportFile) -> tuple[threading.Thread, list[str | BaseException]]:
    """Re-hash the file beside DuckDB's read (hashlib releases the GIL): it may have changed
    since it was announced, e.g. a copy into the inbox still in progress."""
    out: list[str | BaseException] = []

    def work() -> None:
        try:
            out.append(hash_stream(export_file.open_stream())[0])
        except BaseException as exc:  # handed to the caller's thread
            out.append(exc)

    thread = threading.Thread(target=work, name="export-sha256", daemon=True)
    thread.start()
    return thread, out


def _parse_with_duckdb(
    user_id: str,
    export_file: ExportFile,
    path: Path,
    verify: bool,
    progress: ParseProgress | None = None,
) -> ParsedExport:
    fmt, usual_keys = _peek_format(path, export_file)
    thread, digest = _hash_in_thread(export_file) if verify else (None, [])
    with connection() as con:
        parts: list[pa.Table] = []
        as_columns = False
        if fmt is not ExportFormat.EMPTY:
            table, as_columns = read_rows(con, path, SPECS[fmt], usual_keys, progress)
            # numpy: a Python range took 0.25-0.65 s for a million rows.
            rows = pa.array(np.arange(table.num_rows, dtype=np.int64))
            parts.append(table.add_column(0, "file_row", rows))
        if thread is not None:
            thread.join()
            if isinstance(digest[0], BaseException):
                raise digest[0]
            _check_hash(export_file, digest[0])
        parsed = _result(con, user_id, export_file, fmt, parts, export_file.sha256, "duckdb")
        return dataclasses.replace(parsed, read_as_columns=as_columns)


def _empty_candidates() -> pa.Table:
    spec = SPECS[ExportFormat.EXTENDED]
    with connection() as con:
        source = "(SELECT 0::BIGINT AS file_row, '{}' AS raw WHERE false)"
        sql = row_sql(spec, source, (), ("file_row",))
        return con.sql(sql).to_arrow_table()


def _result(
    con: duckdb.DuckDBPyConnection,
    user_id: str,
    export_file: ExportFile,
    fmt: ExportFormat,
    parts: list[pa.Table],
    sha256: str,
    engine: str,
) -> ParsedExport:
    spec: FormatSpec = SPECS.get(fmt, SPECS[ExportFormat.EXTENDED])
    candidates = pa.concat_tables(parts) if parts else _empty_candidates()
    normalized = finish(con, candidates, spec, user_id=user_id, file_sha256=sha256)
    report = _report(user_id, export_file, fmt, candidates.num_rows, normalized, sha256)
    return ParsedExport(
        fmt,
        normalized.observations,
        normalized.malformed,
        normalized.duplicates,
        report.check(),
        engine,
    )


def _report(
    user_id: str,
    export_file: ExportFile,
    fmt: ExportFormat,
    rows_read: int,
    normalized: Normalized,
    sha256: str,
) -> ImportReport:
    counts = normalized.counts
    return ImportReport(
        user_id=user_id,
        file_name=export_file.origin,
        file_sha256=sha256,
        format=str(fmt),
        rows_read=rows_read,
        kept_tracks=counts.get("track", 0),
        kept_episodes=counts.get("episode", 0),
        kept_audiobooks=counts.get("audiobook", 0),
        kept_video=counts.get("video", 0),
        kept_unknown=counts.get("unknown", 0),
        under_threshold=normalized.under_threshold,
        duplicate_in_file=len(normalized.duplicates),
        malformed=len(normalized.malformed),
        unknown_keys=normalized.unknown_keys,
    )


__all__ = [
    "BATCH_ROWS",
    "FAST_PATH_MIN_BYTES",
    "OBSERVATION_SCHEMA",
    "ParseProgress",
    "ParsedExport",
    "parse_export_file",
    "parse_export_path",
]
