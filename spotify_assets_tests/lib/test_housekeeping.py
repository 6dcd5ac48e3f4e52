"""Housekeeping: superseded files go once no reader can need them; forgetting a user leaves
nothing of them in any generation."""

import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from spotify_assets.lib.catalog import (
    SNAPSHOT_DIR,
    catalog_generation,
    current_target,
    refresh_catalog,
    summarize,
)
from spotify_assets.lib.lake import Column, Lake, TableSpec, housekeeping

T = TableSpec(
    "t",
    "One row per thing.",
    [Column("user_id", pa.string(), "whose"), Column("n", pa.int64(), "a number")],
    sort_by=["user_id", "n"],
)
LATER = datetime.now(UTC) + timedelta(days=1)

READER = textwrap.dedent(
    """
    import os, sys, duckdb
    os.chdir(os.path.dirname(sys.argv[1]))
    con = duckdb.connect(sys.argv[1], read_only=True)
    print(con.execute("select sum(n) from t").fetchone()[0], flush=True)
    sys.stdin.readline()
    print(con.execute("select sum(n) from t").fetchone()[0], flush=True)
    """
)


def _reader(db: Path) -> subprocess.Popen:
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return reader


def _collect(lake: Lake, db: Path, **kwargs) -> housekeeping.HousekeepingReport:
    return housekeeping.collect(
        lake, db.parent, catalog_generation=catalog_generation(db), **kwargs
    )


def test_files_an_open_catalog_lists_are_kept_until_it_closes(tmp_path: Path) -> None:
    lake, db = Lake(tmp_path / "lake"), tmp_path / "warehouse.duckdb"
    old = lake.write(T, [{"user_id": "a", "n": 1}], "k").path
    refresh_catalog(lake, db)
    reader = _reader(db)
    assert reader.stdout.readline().strip() == "1"
    lake.write(T, [{"user_id": "a", "n": 2}], "k")
    refresh_catalog(lake, db)
    held = _collect(lake, db, now=LATER)  # long past the grace period
    assert held.files_kept_for_readers == 1 and held.files_removed == 0
    assert [pid for _, _, pids in held.snapshots_held for pid in pids] == [reader.pid]
    assert old.exists()
    reader.stdin.write("\n")
    reader.stdin.flush()
    assert reader.stdout.readline().strip() == "1"  # still reading its generation
    assert reader.wait(timeout=30) == 0
    freed = _collect(lake, db, now=LATER)
    assert (freed.files_removed, freed.snapshots_dropped) == (1, 1)
    assert freed.bytes_reclaimed > 0 and not old.exists()
    assert list((tmp_path / SNAPSHOT_DIR).iterdir()) == [current_target(db).parent]


def test_superseded_files_wait_out_the_grace_period(tmp_path: Path) -> None:
    lake, db = Lake(tmp_path / "lake"), tmp_path / "warehouse.duckdb"
    old = lake.write(T, [{"user_id": "a", "n": 1}], "k").path
    lake.write(T, [{"user_id": "a", "n": 2}], "k")
    refresh_catalog(lake, db)
    assert _collect(lake, db).files_in_grace == 1  # a run may have listed it just now
    assert old.exists()
    assert _collect(lake, db, now=LATER).files_removed == 1
    assert not old.exists()
    assert lake.read("t").column("n").to_pylist() == [2]


def test_orphans_of_killed_writers_are_removed(tmp_path: Path) -> None:
    lake, db = Lake(tmp_path / "lake"), tmp_path / "warehouse.duckdb"
    lake.write(T, [{"user_id": "a", "n": 1}], "k")
    with pytest.raises(RuntimeError), lake.transaction() as tx:
        orphan = tx.write(T, [{"user_id": "a", "n": 9}], "k2").path
        raise RuntimeError("killed before the commit")
    assert orphan.exists()
    refresh_catalog(lake, db)
    assert _collect(lake, db).orphans_removed == 0  # maybe a writer about to commit
    assert _collect(lake, db, now=LATER).orphans_removed == 1
    assert not orphan.exists() and lake.read("t").num_rows == 1


def test_forget_removes_a_user_from_every_generation(tmp_path: Path) -> None:
    lake, db = Lake(tmp_path / "lake"), tmp_path / "warehouse.duckdb"
    lake.write(T, [{"user_id": "gone", "n": 1}, {"user_id": "kept", "n": 2}], "k")
    lake.write(T, [{"user_id": "gone", "n": 3}, {"user_id": "kept", "n": 4}], "k")
    lake.write(T, [{"user_id": "kept", "n": 5}], "k2")
    refresh_catalog(lake, db)
    reader = _reader(db)  # an analyst on the generation that still has the user
    assert reader.stdout.readline().strip() == "12"
    lake.remove_user_rows("gone")
    refresh_catalog(lake, db)
    report = housekeeping.forget(
        lake, db.parent, housekeeping.holds_user("gone"), wait_s=0.5, cut_off=True
    )
    assert report.readers == [reader.pid]  # it did not close within the wait
    assert report.files_removed == 2 and report.snapshots_dropped == 1
    reader.stdin.write("\n")
    reader.stdin.flush()
    assert reader.wait(timeout=30) != 0  # cut off: its catalog's files are gone, a loud error
    for path in (tmp_path / "lake").rglob("*.parquet"):
        assert not housekeeping.holds_user("gone")(path, "")
    assert sorted(lake.read("t").column("n").to_pylist()) == [4, 5]


def test_forget_leaves_an_open_reader_working_until_it_closes(tmp_path: Path) -> None:
    lake, db = Lake(tmp_path / "lake"), tmp_path / "warehouse.duckdb"
    lake.write(T, [{"user_id": "gone", "n": 1}, {"user_id": "kept", "n": 2}], "k")
    refresh_catalog(lake, db)
    reader = _reader(db)
    assert reader.stdout.readline().strip() == "3"
    lake.remove_user_rows("gone")
    refresh_catalog(lake, db)
    report = housekeeping.forget(lake, db.parent, housekeeping.holds_user("gone"), wait_s=0.3)
    assert (report.files_held, report.readers, report.files_removed) == (1, [reader.pid], 0)
    reader.stdin.write("\n")
    reader.stdin.flush()
    assert reader.stdout.readline().strip() == "3"  # its generation, whole, no failure
    assert reader.wait(timeout=30) == 0
    # Closed: the very next housekeeping removes the held file, grace period or not.
    freed = _collect(lake, db)
    assert freed.files_removed == 1
    for path in (tmp_path / "lake").rglob("*.parquet"):
        assert not housekeeping.holds_user("gone")(path, "")


def test_forget_waits_for_a_reader_that_closes(tmp_path: Path) -> None:
    lake, db = Lake(tmp_path / "lake"), tmp_path / "warehouse.duckdb"
    lake.write(T, [{"user_id": "gone", "n": 1}], "k")
    refresh_catalog(lake, db)
    reader = _reader(db)
    assert reader.stdout.readline().strip() == "1"
    lake.remove_user_rows("gone")
    refresh_catalog(lake, db)
    reader.stdin.write("\n")  # the analyst finishes and disconnects during the wait
    reader.stdin.flush()
    report = housekeeping.forget(lake, db.parent, housekeeping.holds_user("gone"), wait_s=30)
    assert reader.wait(timeout=30) == 0
    assert report.readers == [] and report.files_removed == 1


def _superseded_catalog(tmp_path: Path) -> tuple[Lake, Path, Path]:
    """A lake published twice: the lake, the catalog link, and the first catalog's file."""
    lake, db = Lake(tmp_path / "lake"), tmp_path / "warehouse.duckdb"
    lake.write(T, [{"user_id": "a", "n": 1}], "k")
    refresh_catalog(lake, db)
    outgoing = current_target(db)
    lake.write(T, [{"user_id": "a", "n": 2}], "k")
    refresh_catalog(lake, db)
    return lake, db, outgoing


def test_a_catalog_just_superseded_waits_for_readers_still_opening_it(tmp_path: Path) -> None:
    """A reader resolves `warehouse.duckdb` to a catalog file, then opens and locks it: a
    catalog superseded in between has no lock yet, and must still be there."""
    lake, db, outgoing = _superseded_catalog(tmp_path)
    fresh = _collect(lake, db)
    assert fresh.snapshots_dropped == 0 and outgoing.exists()
    assert fresh.files_in_grace == 1  # and the files it lists stay with it
    later = _collect(lake, db, now=LATER)
    assert (later.snapshots_dropped, later.files_removed) == (1, 1)
    assert not outgoing.parent.exists() and current_target(db).exists()


def test_the_current_catalog_is_never_dropped_even_when_recorded_as_old(tmp_path: Path) -> None:
    """A publish killed after recording the outgoing catalog, before moving the link."""
    lake, db = Lake(tmp_path / "lake"), tmp_path / "warehouse.duckdb"
    lake.write(T, [{"user_id": "a", "n": 1}], "k")
    refresh_catalog(lake, db)
    current = current_target(db)
    lake.manifest.record_snapshot(current.relative_to(tmp_path).as_posix(), 1)
    assert _collect(lake, db, now=LATER).snapshots_dropped == 0
    assert current.exists() and summarize(db).views == {"t": 1}


def test_a_superseded_catalog_nobody_opened_goes_after_minutes_not_the_files_grace(
    tmp_path: Path,
) -> None:
    lake, db, outgoing = _superseded_catalog(tmp_path)
    soon = datetime.now(UTC) + housekeeping.CATALOG_OPENING_GRACE + timedelta(seconds=1)
    report = _collect(lake, db, now=soon)  # long before the files' 60 minutes
    assert report.snapshots_dropped == 1 and not outgoing.exists()
    assert report.files_in_grace == 1 and report.files_removed == 0
