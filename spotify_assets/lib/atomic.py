"""Crash-safe file publication: write beside the target, fsync, rename into place.

A reader (DuckDB globbing `*.parquet`, an analyst, another run) sees either the old file or the
new one, never a partial one. Temp files are hidden dot-files ending in `.tmp-<pid>-<random>`,
so no glob that a reader uses matches them; a writer killed with -9 leaves one behind, which
`sweep_stale_temps` removes once its process is gone.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

TMP_MARK = ".tmp-"


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_path_for(target: Path) -> Path:
    # Unique per writer, not just per process: threads of one run publish side by side.
    return target.with_name(f".{target.name}{TMP_MARK}{os.getpid()}-{uuid.uuid4().hex[:12]}")


@contextlib.contextmanager
def atomic_path(target: Path, *, fsync_dir: bool = True) -> Iterator[Path]:
    """Yield a temp path to write; on success it replaces `target` atomically.

    `fsync_dir=False` leaves the folder's fsync to a caller publishing many files into it.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_for(target)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        if fsync_dir:
            publish_temp(tmp, target)
        else:
            os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def publish_temp(tmp: Path, target: Path) -> None:
    """Rename a complete, fsynced temp file (from `temp_path_for(target)`) into place."""
    os.replace(tmp, target)
    _fsync_dir(target.parent)


def write_bytes_atomic(target: Path, data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def write_with(target: Path, writer: Callable[[Path], None]) -> None:
    with atomic_path(target) as tmp:
        writer(tmp)


def write_many_with(
    jobs: Sequence[tuple[Path, Callable[[Path], None]]], workers: int | None = None
) -> None:
    """`write_with` for many targets at once: each file is written to its own temp file,
    fsynced and renamed into place, as one write would be; each directory is fsynced once at
    the end instead of once per file. Writers run in threads (Parquet and gzip release the
    GIL), so they must not share mutable state. If a writer fails, its temp file is removed,
    writers not yet started are cancelled, files already renamed stay (each one is complete),
    and the error is raised."""

    def publish(job: tuple[Path, Callable[[Path], None]]) -> None:
        target, writer = job
        with atomic_path(target, fsync_dir=False) as tmp:
            writer(tmp)

    # Measured on 2 cores: 4 threads publish 2,434 small files 1.75x faster than 1; 8 no faster.
    workers = workers or 4
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            publish(job)
    else:
        with ThreadPoolExecutor(workers, thread_name_prefix="publish") as pool:
            # Iterating re-raises the first failure and cancels the jobs not yet started.
            list(pool.map(publish, jobs))
    for directory in {target.parent for target, _ in jobs}:
        _fsync_dir(directory)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale_temps(directory: Path) -> list[Path]:
    """Remove temp files whose writing process no longer exists; return what was removed."""
    removed: list[Path] = []
    if not directory.exists():
        return removed
    # Temp files live beside their targets: one directory listing, not a recursive walk (a
    # table folder holds thousands of day files, and every write sweeps it).
    for path in directory.glob(f".*{TMP_MARK}*"):
        try:
            pid = int(path.name.rsplit(TMP_MARK, 1)[1].split("-", 1)[0])
        except ValueError:
            continue
        if pid != os.getpid() and not _pid_alive(pid):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path)
    return removed
