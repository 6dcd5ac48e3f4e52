"""Crash-safe file publication: write beside the target, fsync, rename into place.

Nobody ever sees a partial file: temp files are hidden dot-files ending in
`.tmp-<pid>-<random>`, which no reader's glob matches; a writer killed with -9 leaves one behind,
which `sweep_stale_temps` removes once its process is gone. A rename over an existing file is
only safe for files read in one go (raw landings, which are never replaced, small state files):
DuckDB reopens a Parquet file while scanning it, so lake data files are never replaced at all
(see `lib/lake`).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

TMP_MARK = ".tmp-"


def fsync_path(path: Path) -> None:
    """fsync a file, or a folder (the names in it), by its path."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_path_for(target: Path) -> Path:
    return Path(temp_name_for(os.fspath(target)))


def temp_name_for(target: str) -> str:
    """`temp_path_for` as text, for writers of thousands of files (pathlib costs there)."""
    # Unique per writer, not just per process: threads of one run publish side by side.
    folder, name = os.path.split(target)
    return os.path.join(folder, f".{name}{TMP_MARK}{os.getpid()}-{uuid.uuid4().hex[:12]}")


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temp path to write; on success it replaces `target` atomically."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_for(target)
    try:
        yield tmp
        fsync_path(tmp)
        publish_temp(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def publish_temp(tmp: Path, target: Path) -> None:
    """Rename a complete, fsynced temp file (from `temp_path_for(target)`) into place."""
    os.replace(tmp, target)
    fsync_path(target.parent)


def write_bytes_atomic(target: Path, data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


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
