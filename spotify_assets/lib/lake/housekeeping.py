"""Removing what no reader can need any more, and forgetting a user everywhere.

Who may still read a superseded file:
- an analyst connected to an older catalog: each catalog file stays in `.warehouse-snapshots/`
  after `warehouse.duckdb` links to a newer one, and DuckDB holds a POSIX lock on a database
  file for as long as a connection has it open (read-only too); an open-file-description lock
  probe tells whether anyone (any process, this one included) still holds it. Files that a held
  catalog lists are kept; a catalog nobody holds is dropped once it was superseded a few
  minutes ago (a reader resolves the link a moment before it locks the file).
- a run that listed files before a commit superseded them and reads them now: superseded files
  are kept for a grace period after the commit that superseded them (default 60 minutes).
Files no manifest generation refers to (a writer killed between writing and committing) are
removed once older than the grace period; hidden temp files once their writer is gone.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from spotify_assets.lib.atomic import sweep_stale_temps
from spotify_assets.lib.lake.manifest import FILE_NAME, Superseded
from spotify_assets.lib.lake.store import Lake

DEFAULT_GRACE = timedelta(minutes=60)
# How long a superseded catalog nobody has locked is kept anyway: a reader resolves the
# `warehouse.duckdb` link microseconds before it locks the file it names. The files such a
# catalog lists keep the longer grace of their own.
CATALOG_OPENING_GRACE = timedelta(minutes=5)
FORGET_LOCK_TIMEOUT_S = 600.0
# struct flock on Linux: l_type, l_whence (short), l_start, l_len (off_t), l_pid (pid_t).
_FLOCK = "hhqqi"


def readers_of(path: Path) -> list[int]:
    """Processes holding a lock on `path` (DuckDB locks every database file it has open):
    the lock holder's pid, or [] when nobody holds it. Raises FileNotFoundError if gone."""
    fd = os.open(path, os.O_RDWR)
    try:
        probe = struct.pack(_FLOCK, fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0)
        # An open-file-description lock conflicts with every other lock, even one of this
        # very process (a classic POSIX probe would not see this process's own connections).
        result = fcntl.fcntl(fd, fcntl.F_OFD_GETLK, probe)
        lock_type, _, _, _, pid = struct.unpack(_FLOCK, result)
        return [] if lock_type == fcntl.F_UNLCK else [pid]
    finally:
        os.close(fd)


@dataclass
class HousekeepingReport:
    generation: int = 0
    files_removed: int = 0
    bytes_reclaimed: int = 0
    orphans_removed: int = 0
    temps_removed: int = 0
    snapshots_dropped: int = 0
    # (catalog file, generation, reader pids) of old catalogs a reader still has open
    snapshots_held: list[tuple[str, int, list[int]]] = field(default_factory=list)
    files_kept_for_readers: int = 0
    files_in_grace: int = 0
    # Writers held the lake for the whole wait: nothing was deleted this time.
    writers_busy: bool = False

    def as_metadata(self) -> dict[str, int]:
        return {
            "generation": self.generation,
            "files_removed": self.files_removed,
            "bytes_reclaimed": self.bytes_reclaimed,
            "orphans_removed": self.orphans_removed,
            "temps_removed": self.temps_removed,
            "snapshots_dropped": self.snapshots_dropped,
            "snapshots_held_by_readers": len(self.snapshots_held),
            "files_kept_for_readers": self.files_kept_for_readers,
            "files_in_grace_period": self.files_in_grace,
            "skipped_writers_busy": int(self.writers_busy),
        }


def _unlink(path: Path) -> int:
    try:
        size = path.stat().st_size
        path.unlink()
    except FileNotFoundError:
        return 0
    return size


def _held_snapshots(
    lake: Lake,
    catalog_dir: Path,
    report: HousekeepingReport,
    *,
    keep_held: bool = True,
    young_after: datetime | None = None,
) -> tuple[set[int], set[int]]:
    """Generations of old catalogs a reader has open, and of those superseded after
    `young_after`, which a reader may be opening still (it resolves the catalog's link before
    it takes its lock); drops the others."""
    held: set[int] = set()
    opening: set[int] = set()
    current = _current_catalogs(catalog_dir)
    for name, gen, superseded_at in lake.manifest.snapshots():
        path = catalog_dir / name
        if os.path.realpath(path) in current:
            continue  # recorded by a publish that died before moving the link: still current
        try:
            pids = readers_of(path)
        except FileNotFoundError:
            lake.manifest.drop_snapshot(name)
            continue
        if pids and keep_held:
            held.add(gen)
            report.snapshots_held.append((name, gen, pids))
            continue
        if young_after is not None and superseded_at > young_after:
            opening.add(gen)
            continue
        _unlink(path)
        if len(Path(name).parts) > 2:  # a catalog in its own folder (with its state file)
            shutil.rmtree(path.parent, ignore_errors=True)
        lake.manifest.drop_snapshot(name)
        report.snapshots_dropped += 1
    return held, opening


def _current_catalogs(catalog_dir: Path) -> set[str]:
    """The catalog files the folder's links (`warehouse.duckdb`) point at."""
    try:
        links = [p for p in catalog_dir.iterdir() if p.is_symlink()]
    except FileNotFoundError:
        return set()
    return {os.path.realpath(p) for p in links}


def _referenced(item: Superseded, generations: set[int]) -> bool:
    return any(item.added_gen <= g < item.removed_gen for g in generations)


def collect(
    lake: Lake,
    catalog_dir: Path,
    *,
    catalog_generation: int | None,
    grace: timedelta = DEFAULT_GRACE,
    now: datetime | None = None,
    lock_timeout_s: float = 60.0,
) -> HousekeepingReport:
    """Remove superseded files no reader can need, dropped snapshots, orphans and dead temps
    (while no writer is between staging and committing: see `Lake.writing`)."""
    with lake.deleting(lock_timeout_s) as free:
        if not free:
            report = HousekeepingReport(generation=lake.generation())
            report.writers_busy = True
            return report
        return _collect(lake, catalog_dir, catalog_generation, grace, now or datetime.now(UTC))


def _collect(
    lake: Lake,
    catalog_dir: Path,
    catalog_generation: int | None,
    grace: timedelta,
    now: datetime,
) -> HousekeepingReport:
    report = HousekeepingReport(generation=lake.generation())
    young_after = now - min(grace, CATALOG_OPENING_GRACE)
    live, opening = _held_snapshots(lake, catalog_dir, report, young_after=young_after)
    if catalog_generation is not None:
        live.add(catalog_generation)
    current = lake.manifest.current_paths()
    pending = lake.manifest.forget_pending()
    removable: list[Superseded] = []
    for item in lake.manifest.superseded():
        if _referenced(item, live):
            report.files_kept_for_readers += 1
        elif item.id not in pending and (
            now - item.removed_at < grace or _referenced(item, opening)
        ):
            # A forgotten user's files wait for open readers only, not for maybe-readers.
            report.files_in_grace += 1
        else:
            removable.append(item)
    for item in removable:
        if item.entry.path not in current:
            report.bytes_reclaimed += _unlink(lake.root / item.entry.path)
        report.files_removed += 1
    lake.manifest.drop_superseded(item.id for item in removable)
    known = lake.manifest.referenced_paths()
    cutoff = now.timestamp() - grace.total_seconds()
    for directory, _, names in os.walk(lake.root):
        folder = Path(directory)
        report.temps_removed += len(sweep_stale_temps(folder))
        for name in names:
            if not name.endswith(".parquet") or name.startswith("."):
                continue
            path = folder / name
            relative = path.relative_to(lake.root).as_posix()
            with contextlib.suppress(FileNotFoundError):
                if relative not in known and path.stat().st_mtime < cutoff:
                    report.bytes_reclaimed += _unlink(path)
                    report.orphans_removed += 1
    _remove_empty_folders(lake.root)
    return report


def _remove_empty_folders(root: Path) -> None:
    for directory, dirs, files in os.walk(root, topdown=False):
        if Path(directory) != root and not dirs and not files:
            with contextlib.suppress(OSError):
                os.rmdir(directory)


def holds_user(user_id: str) -> Callable[[Path, str], bool]:
    """Whether a lake file is (or has rows) of `user_id`: by its partition key, else its data."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    def check(path: Path, partition: str) -> bool:
        if user_id in partition.split("/"):
            return True
        schema = pq.read_schema(path)
        if "user_id" not in schema.names:
            return False
        column = pq.read_table(path, columns=["user_id"]).column("user_id")
        return bool(pc.any(pc.equal(column, user_id)).as_py())

    return check


@dataclass
class ForgetReport:
    files_removed: int = 0
    snapshots_dropped: int = 0
    # Files an analyst's connection, opened before the removal, still reads: they go as soon as
    # it closes (the next housekeeping), unless `cut_off` removed them anyway.
    files_held: int = 0
    readers: list[int] = field(default_factory=list)


def forget(
    lake: Lake,
    catalog_dir: Path,
    holds_user: Callable[[Path, str], bool],
    *,
    wait_s: float = 30.0,
    cut_off: bool = False,
) -> ForgetReport:
    """After a user's rows left the current files (and a new catalog was published): remove
    every superseded or unreferenced file that `holds_user(path, partition)`, and every old
    catalog (they list the files of earlier generations), regardless of grace.

    An old catalog a reader has open is waited for, up to `wait_s`. One still open then keeps
    working: the files it lists stay (`files_held`, named by `readers`) until it closes, and
    housekeeping removes them at its next pass after that; with `cut_off`, they are removed now
    and that reader's next query fails."""
    with lake.deleting(FORGET_LOCK_TIMEOUT_S) as free:
        if not free:
            raise TimeoutError(
                f"writers kept the lake busy for {FORGET_LOCK_TIMEOUT_S:.0f} s; run it again"
            )
        return _forget(lake, catalog_dir, holds_user, wait_s, cut_off)


def _forget(
    lake: Lake,
    catalog_dir: Path,
    holds_user: Callable[[Path, str], bool],
    wait_s: float,
    cut_off: bool,
) -> ForgetReport:
    report = ForgetReport()
    deadline = time.monotonic() + wait_s
    while True:
        held = {
            gen: pids
            for name, gen, _ in lake.manifest.snapshots()
            if (catalog_dir / name).exists() and (pids := readers_of(catalog_dir / name))
        }
        if not held or time.monotonic() >= deadline:
            break
        time.sleep(0.2)
    report.readers = sorted({pid for pids in held.values() for pid in pids})
    scratch = HousekeepingReport()
    _held_snapshots(lake, catalog_dir, scratch, keep_held=not cut_off)
    report.snapshots_dropped = scratch.snapshots_dropped
    live = set() if cut_off else set(held)
    current = lake.manifest.current_paths()
    drop: list[int] = []
    keep: list[int] = []
    for item in lake.manifest.superseded():
        path = lake.root / item.entry.path
        if item.entry.path in current:
            continue
        if not path.exists():
            drop.append(item.id)
        elif holds_user(path, item.entry.partition):
            if _referenced(item, live):
                keep.append(item.id)
                continue
            _unlink(path)
            drop.append(item.id)
            report.files_removed += 1
    lake.manifest.drop_superseded(drop)
    lake.manifest.mark_forget_pending(keep)
    report.files_held = len(keep)
    known = lake.manifest.referenced_paths()
    for path in lake.root.rglob("*.parquet"):
        relative = path.relative_to(lake.root).as_posix()
        if relative not in known and relative != FILE_NAME and holds_user(path, ""):
            _unlink(path)
            report.files_removed += 1
    lake.manifest.purge_freed_pages()  # removed rows named the user's partitions
    return report
