"""One immutable data file of the lake: its bytes, its name (a hash of them), written whole.

The file is encoded in memory, named `<stem>.<sha256 prefix>.parquet`, written to a hidden temp
file beside that name (`write_unsynced`), fsynced and renamed into place (`settle`): a file only
ever has its final name whole and synced, so a reader (or `_holds`) never sees part of one. Many
files are written by `write_files`: encoded a few at a time, then settled many at a time. Folder
fsyncs and the manifest commit are the caller's (`store.py`).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from spotify_assets.lib.atomic import fsync_path, temp_name_for

# Measured on 2 cores: 4 threads encode and write 2,434 small files 1.75x faster than 1; 8 no
# faster. Their fsyncs wait on the disk, not the CPU: 16 at a time took 0.22 s where the same
# fsyncs inside the 4 writing threads took ~0.4 s (64: no faster).
WRITE_THREADS = 4
SYNC_THREADS = 16


@dataclass(frozen=True)
class StagedFile:
    """A data file written under its temp name (`tmp`), or already there whole (`tmp` None).
    Paths are text: a write of a decade's days stages thousands, and pathlib's objects cost
    more than the rest of the Python around each encoding (measured: `store._stage_many`)."""

    path: str
    size: int
    tmp: str | None


def write_unsynced(folder: Path | str, stem: str, table: pa.Table) -> StagedFile:
    """Encode `table` as the file of `stem` in `folder` (which exists) and write it under a
    temp name, not yet synced: `settle` makes it the file, `discard` drops it."""
    data = _parquet_bytes(table)
    folder = os.fspath(folder)
    target = os.path.join(folder, f"{stem}.{hashlib.sha256(data).hexdigest()[:16]}.parquet")
    if _holds(target, data):
        return StagedFile(target, data.size, None)
    tmp = temp_name_for(os.path.join(folder, stem))
    try:
        _write(tmp, data)
    except BaseException:
        _unlink(tmp)
        raise
    return StagedFile(target, data.size, tmp)


def settle(staged: StagedFile) -> None:
    """Sync a written file and give it its final name. On failure its temp file is gone."""
    if staged.tmp is None:
        return
    try:
        fsync_path(staged.tmp)
        os.replace(staged.tmp, staged.path)
    except BaseException:
        _unlink(staged.tmp)
        raise


def discard(staged: StagedFile) -> None:
    """Drop a written file that will not be settled (another one of its batch failed)."""
    if staged.tmp is not None:
        _unlink(staged.tmp)


def write_files(jobs: Sequence[tuple[str, str, pa.Table]]) -> list[StagedFile]:
    """Write each (folder, stem, table) as the file of `stem` in `folder` (which exists), in
    order: encoded and written a few at a time (CPU), then synced and renamed many at a time
    (an fsync waits on the disk, and the filesystem commits concurrent ones together: 2,434
    `plays` day files 1.58 -> 1.33 s; docs/benchmarks.md). If any fails, no temp file is left
    (files already renamed are orphans, for housekeeping) and the error is raised."""
    written = _in_threads(WRITE_THREADS, lambda job: write_unsynced(*job), jobs, undo=discard)
    try:
        _in_threads(SYNC_THREADS, settle, written)
    except BaseException:
        for file in written:
            discard(file)
        raise
    return written


def _in_threads(
    threads: int,
    work: Callable[[Any], StagedFile | None],
    items: Sequence[Any],
    *,
    undo: Callable[[StagedFile], None] | None = None,
) -> list[Any]:
    """`work` on every item, `threads` at a time, results in order. After a failure no item
    is started; once every thread has stopped, `undo` is given each result that succeeded and
    the first error is raised.

    Each thread takes the next item until none is left: a future per item (a thread pool's
    `submit`) cost 0.15 s of a decade's 2,434 day files on 2 cores (measured)."""
    if len(items) <= 1:
        return [work(item) for item in items]
    results: list[Any] = [_NOTHING] * len(items)
    errors: list[BaseException] = []
    taken = itertools.count()  # next() on it is atomic: each index goes to one thread

    def run() -> None:
        while not errors and (index := next(taken)) < len(items):
            try:
                results[index] = work(items[index])
            except BaseException as exc:  # handed to the caller's thread
                errors.append(exc)

    pool = [
        threading.Thread(target=run, name=f"lake-write-{i}", daemon=True)
        for i in range(min(threads, len(items)))
    ]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    if errors:
        for result in results if undo else ():
            if result is not _NOTHING:
                undo(result)
        raise errors[0]
    return results


_NOTHING = object()


# A file of fewer rows than this (a day of plays, a listener's day) is written for speed: its
# cost is per column, not per row (a `plays` day file: 1.7 ms of CPU with zstd and dictionary
# pages, 0.8 ms with snappy and none; ~35% more bytes). Larger files (an export's rows, the
# catalog tables) are written small: zstd with dictionary pages for text. Not for numbers and
# times, which are nearly all distinct: their dictionary was built, found too large and
# dropped (a million-row export: 0.62 -> 0.54 s, and 5% smaller).
SMALL_FILE_ROWS = 10_000


def _parquet_bytes(table: pa.Table) -> pa.Buffer:
    """The file's bytes, encoded in memory: hashed for its name and written in one go, never
    read back. The options are a function of the rows alone, so the same rows always give the
    same bytes (the same file name): a stale-days refresh and a whole-month rebuild write
    identical files."""
    sink = pa.BufferOutputStream()
    small = table.num_rows < SMALL_FILE_ROWS
    pq.write_table(
        table,
        sink,
        compression="snappy" if small else "zstd",
        use_dictionary=False if small else _text_columns(table.schema),
        write_statistics=True,
        store_schema=True,
    )
    return sink.getvalue()


def _text_columns(schema: pa.Schema) -> list[str]:
    """The Parquet paths of text columns, and of lists of text (their elements)."""
    paths = []
    for field in schema:
        if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
            paths.append(field.name)
        elif pa.types.is_list(field.type) and pa.types.is_string(field.type.value_type):
            paths.append(f"{field.name}.list.element")
    return paths


def _holds(target: str, data: pa.Buffer) -> bool:
    """Whether `target` already has these very bytes: its name is their hash, and a file only
    ever gets its final name whole and synced. A rewrite of an unchanged day (a newer export
    repeats the whole history) then creates no file: creating one is the largest part of a
    day file's cost (docs/benchmarks.md). Housekeeping cannot remove it meanwhile: it waits
    for writers between staging and committing (`Lake.writing`)."""
    try:
        return os.stat(target).st_size == data.size
    except FileNotFoundError:
        return False


def _write(path: str, data: pa.Buffer) -> None:
    # 0o666 less the umask: the mode the Parquet writer gave a file it created itself.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
