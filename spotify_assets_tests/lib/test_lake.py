"""The lake writer: explicit schemas, immutable files, one manifest commit per write, crash
safety, the daily layout adopted as it is."""

import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import textwrap
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from spotify_assets.lib.lake import Column, Lake, SchemaMismatchError, TableSpec

PLAYS = TableSpec(
    "plays",
    "One row per play.",
    [
        Column("user_id", pa.string(), "who played", nullable=False),
        Column("track", pa.string(), "what"),
        Column("ms_played", pa.int64(), "for how long"),
    ],
    sort_by=["user_id", "track"],
)
DAYS = TableSpec(
    "days",
    "One row per play, partitioned by day.",
    [
        Column("user_id", pa.string(), "who played", nullable=False),
        Column("day", pa.date32(), "when"),
        Column("track", pa.string(), "what"),
    ],
    sort_by=["user_id", "track"],
)
FIXTURE = Path(__file__).parents[1] / "fixtures" / "daily_layout_data.tgz"


def _rows(n: int, user: str = "alice") -> list[dict]:
    return [{"user_id": user, "track": f"t{i:07d}", "ms_played": i} for i in range(n)]


def _day_rows(n: int) -> list[dict]:
    days = [dt.date(2026, 1, 30) + dt.timedelta(days=i) for i in range(4)]
    return [
        {"user_id": f"u{i % 3}", "day": days[i % 4], "track": f"t{(i * 7) % 50:03d}"}
        for i in range(n)
    ]


def test_a_write_adds_a_new_immutable_file_and_supersedes_the_old_one(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    first = lake.write(PLAYS, _rows(3), "2026-01-05")
    first_bytes = first.path.read_bytes()
    # Date keys are filed under their month; the name carries a hash of the bytes.
    assert first.path.parent == tmp_path / "plays" / "2026-01"
    assert first.path.name.startswith("2026-01-05.") and first.rows == 3
    second = lake.write(PLAYS, _rows(1), "2026-01-05")
    assert second.path != first.path
    assert first.path.read_bytes() == first_bytes  # never changed: a reader of it reads on
    assert lake.read("plays", "2026-01-05").num_rows == 1  # replaced whole, not appended
    assert lake.partitions("plays") == ["2026-01-05"]
    assert lake.files("plays") == [second.path]


def test_same_input_gives_the_same_file_and_no_new_generation(tmp_path: Path) -> None:
    a, b = Lake(tmp_path / "a"), Lake(tmp_path / "b")
    rows = _rows(50)
    written_a = a.write(PLAYS, rows, "2026-01-05")
    written_b = b.write(PLAYS, list(reversed(rows)), "2026-01-05")  # order does not matter
    assert written_a.path.relative_to(a.root) == written_b.path.relative_to(b.root)
    assert written_a.path.read_bytes() == written_b.path.read_bytes()
    gen = a.generation()
    a.write(PLAYS, rows, "2026-01-05")
    assert a.generation() == gen  # re-running a partition with unchanged input is free


def test_schema_is_enforced(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    with pytest.raises(SchemaMismatchError, match="unknown columns \\['surprise'\\]"):
        lake.write(PLAYS, [{"user_id": "a", "track": "t", "ms_played": 1, "surprise": 1}], "d")
    with pytest.raises(SchemaMismatchError, match="user_id has nulls"):
        lake.write(PLAYS, [{"user_id": None, "track": "t", "ms_played": 1}], "d")
    with pytest.raises(SchemaMismatchError):
        lake.write(PLAYS, [{"user_id": "a", "track": "t", "ms_played": "lots"}], "d")
    assert lake.files("plays") == []


@pytest.mark.parametrize("key", ["../x", "/abs", "a/../../b", ".hidden", ""])
def test_partition_keys_cannot_escape_the_table(tmp_path: Path, key: str) -> None:
    with pytest.raises(ValueError, match="invalid partition key"):
        Lake(tmp_path).write(PLAYS, _rows(1), key)


def test_remove_user_rows(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    lake.write(PLAYS, _rows(3, "alice") + _rows(2, "bob"), "2026-01-05")
    lake.write(PLAYS, _rows(4, "alice"), "2026-01-06")
    assert lake.remove_user_rows("alice") == (7, 2)
    remaining = lake.read("plays")
    assert set(remaining.column("user_id").to_pylist()) == {"bob"}
    assert lake.partitions("plays") == ["2026-01-05"]  # a partition left empty is gone
    assert lake.read("plays", "2026-01-05").schema.equals(PLAYS.schema)


def test_write_partitions_equals_one_write_per_partition(tmp_path: Path) -> None:
    rows = _day_rows(200)
    days = [*sorted({r["day"] for r in rows}), dt.date(2026, 2, 3)]  # no rows for the last day
    keys = [d.isoformat() for d in days]
    batch, single = Lake(tmp_path / "batch"), Lake(tmp_path / "single")
    counts = batch.write_partitions(DAYS, list(reversed(rows)), "day", keys)
    for d in days[:-1]:
        single.write(DAYS, [r for r in rows if r["day"] == d], d.isoformat())
    assert counts == {k: sum(r["day"].isoformat() == k for r in rows) for k in keys}
    assert counts[keys[-1]] == 0 and not batch.has_partition("days", keys[-1])
    for key in keys[:-1]:
        (a,), (b,) = batch.files("days", [key]), single.files("days", [key])
        assert a.relative_to(batch.root) == b.relative_to(single.root)
        assert a.read_bytes() == b.read_bytes(), key
    # Two months, two folders; no temp file left anywhere.
    assert sorted(p.name for p in (batch.root / "days").iterdir()) == ["2026-01", "2026-02"]
    assert not [p for p in batch.root.rglob("*") if ".tmp-" in p.name]


def test_write_each_equals_one_write_per_partition_empty_ones_included(tmp_path: Path) -> None:
    """The importer's batch of export files: every partition gets its file, an empty one an
    empty file (an export whose rows were all rejected still exists), identical to `write`."""
    parts = {f"alice/{i:02d}": _rows(i * 7) for i in range(6)}  # alice/00 has no rows
    batch, single = Lake(tmp_path / "batch"), Lake(tmp_path / "single")
    with batch.transaction() as tx:
        counts = tx.write_each(PLAYS, parts)
    for key, rows in parts.items():
        single.write(PLAYS, rows, key)
    assert counts == {key: len(rows) for key, rows in parts.items()}
    assert batch.partitions("plays") == sorted(parts)
    for key in parts:
        (a,), (b,) = batch.files("plays", [key]), single.files("plays", [key])
        assert a.relative_to(batch.root) == b.relative_to(single.root)
        assert a.read_bytes() == b.read_bytes(), key
    assert batch.read("plays", "alice/00").num_rows == 0
    with pytest.raises(ValueError, match="not partitioned"), batch.transaction() as tx:
        tx.write_each(TableSpec("flat", "x", PLAYS.columns, partitioned=False), parts)


def test_a_range_rewrite_removes_days_that_lost_their_rows(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    rows = _day_rows(40)
    keys = sorted({r["day"].isoformat() for r in rows})
    lake.write_partitions(DAYS, rows, "day", keys)
    kept = [r for r in rows if r["day"].isoformat() != keys[1]]
    lake.write_partitions(DAYS, kept, "day", keys)
    assert lake.partitions("days") == [keys[0], *keys[2:]]


def test_write_partitions_refuses_rows_outside_the_partitions(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    rows = [{"user_id": "u", "day": dt.date(2026, 1, 9), "track": "t"}]
    with pytest.raises(ValueError, match="2026-01-09"):
        lake.write_partitions(DAYS, rows, "day", ["2026-01-08"])
    assert lake.partitions("days") == [] and lake.generation() == 0


def test_a_transaction_commits_several_tables_together_or_not_at_all(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    with pytest.raises(RuntimeError, match="boom"), lake.transaction() as tx:
        tx.write(PLAYS, _rows(2), "2026-01-05")
        raise RuntimeError("boom")
    assert lake.partitions("plays") == [] and lake.generation() == 0
    with lake.transaction(stale={"listening": ["2026-01-05"]}) as tx:
        tx.write(PLAYS, _rows(2), "2026-01-05")
        tx.write_partitions(DAYS, _day_rows(2), "day", ["2026-01-30", "2026-01-31"])
    assert lake.generation() == 1  # one commit: one generation
    assert lake.partitions("plays") == ["2026-01-05"]
    assert lake.partitions("days") == ["2026-01-30", "2026-01-31"]
    assert lake.manifest.stale("listening") == {"2026-01-05": 1}


def test_stale_marks_clear_only_for_what_a_successful_run_claimed(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    lake.mark_stale("listening", ["2026-01-05", "2026-01-06"])
    assert lake.manifest.claim("run-a", "listening", ["2026-01-05", "2026-01-06"]) == {
        "2026-01-05": 1,
        "2026-01-06": 1,
    }
    lake.mark_stale("listening", ["2026-01-06"])  # changed again while run-a computes
    lake.manifest.claim("run-b", "listening", ["2026-01-05"])
    assert lake.manifest.settle("run-b", succeeded=False) == 0
    assert lake.manifest.settle("run-a", succeeded=True) == 1
    assert lake.manifest.stale("listening") == {"2026-01-06": 2}
    assert lake.manifest.claiming_runs() == []


WRITER = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    sys.path.insert(0, {root!r})
    from spotify_assets_tests.lib.test_lake import PLAYS, _rows
    from spotify_assets.lib.lake import Lake
    write = os.write
    def half_then_stall(fd, data):
        # The kill lands here, half of the file on disk: waiting for a real write's last
        # moments lost the race to a fast disk on a loaded machine.
        if len(data) > 100_000:
            write(fd, bytes(data[: len(data) // 2]))
            time.sleep(600)
        return write(fd, data)
    os.write = half_then_stall
    Lake(Path({lake!r})).write(PLAYS, _rows(500_000, "bob"), "2026-01-05")
    """
)


def test_kill_9_mid_write_leaves_the_current_partition_intact(disk_tmp_path: Path) -> None:
    lake = Lake(disk_tmp_path / "lake")
    before = lake.write(PLAYS, _rows(5), "2026-01-05").path
    root = str(Path(__file__).resolve().parents[2])
    child = subprocess.Popen([sys.executable, "-c", WRITER.format(root=root, lake=str(lake.root))])
    folder = before.parent
    deadline = time.monotonic() + 60
    while (
        not (temps := list(folder.glob(f".2026-01-05.tmp-{child.pid}-*")))
        or not temps[0].stat().st_size
    ):
        assert child.poll() is None, "writer finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert temps[0].exists()  # the crash left its partial, hidden file behind ...
    assert lake.files("plays") == [before]  # ... and the manifest still names the old file
    assert lake.read("plays").column("user_id").to_pylist() == ["alice"] * 5
    lake.write(PLAYS, _rows(2), "2026-01-06")  # the next write in that folder sweeps it
    assert not temps[0].exists()


def test_a_copied_lake_reads_its_own_files(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "a" / "lake")
    lake.write(PLAYS, _rows(3), "2026-01-05")
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    copy = Lake(tmp_path / "b" / "lake")
    copy.write(PLAYS, _rows(1, "bob"), "2026-01-06")
    assert all(p.is_relative_to(copy.root) for p in copy.files("plays"))
    assert copy.read("plays").num_rows == 4 and lake.read("plays").num_rows == 3
    manifest = (copy.root / "_manifest.sqlite3").read_bytes()
    assert str(tmp_path).encode() not in manifest  # no absolute path is stored


def test_the_daily_layout_is_adopted_without_rewriting(tmp_path: Path) -> None:
    with tarfile.open(FIXTURE) as archive:
        archive.extractall(tmp_path, filter="data")
    root = tmp_path / "lake"
    legacy = {
        p: p.read_bytes()
        for p in root.rglob("*.parquet")
        if pq.read_metadata(p).num_rows  # the daily layout wrote empty files for empty days
    }
    docs = {p.parent.name: json.loads(p.read_text()) for p in root.glob("*/_table.json")}
    lake = Lake(root)
    assert set(lake.files("plays")) == {p for p in legacy if p.parent.name == "plays"}
    assert {p for t in lake.tables() for p in lake.files(t)} == set(legacy)
    assert all(p.read_bytes() == data for p, data in legacy.items())  # not rewritten
    assert lake.partitions("polled_plays")[0].count("/") == 1  # <user>/<day> keys
    stored = lake.manifest.docs()
    assert {t: json.loads(d) for t, d in stored.items()} == docs
    assert not list(root.glob("*/_table.json"))
    assert lake.generation() == 1
    assert Lake(root).generation() == 1  # adopted once


def test_a_column_added_since_older_files_reads_as_null(tmp_path: Path) -> None:
    from spotify_assets.defs.resources import Warehouse
    from spotify_assets.lib.settings import load_settings

    warehouse = Warehouse(load_settings(data_dir=tmp_path))
    warehouse.write(PLAYS, _rows(2), "2026-01-05")  # written before `late` existed
    grown = TableSpec(
        "plays", PLAYS.doc, [*PLAYS.columns, Column("late", pa.bool_(), "new")], sort_by=["user_id"]
    )
    table = warehouse.scan(grown, "ms_played >= ?", [1])
    assert table.schema.names == grown.column_names
    assert table.column("late").to_pylist() == [None]


def test_files_of_two_schemas_still_read_as_one_relation(tmp_path: Path) -> None:
    """Files of one schema are read on the first file's footer; a mix must still be united by
    name (by `scan` and by the named SQL every asset runs), and a plain list of paths too."""
    from spotify_assets.defs.resources import Warehouse
    from spotify_assets.lib.query import LakeView, run_sql
    from spotify_assets.lib.settings import load_settings

    warehouse = Warehouse(load_settings(data_dir=tmp_path))
    warehouse.write(PLAYS, _rows(1), "2026-01-05")  # written before `late` existed
    grown = TableSpec(
        "plays", PLAYS.doc, [*PLAYS.columns, Column("late", pa.bool_(), "new")], sort_by=["user_id"]
    )
    warehouse.write(grown, [{**_rows(1, "bob")[0], "late": True}], "2026-01-06")
    files = warehouse.files(grown)
    assert len(files.schemas) == 2
    assert warehouse.scan(grown).sort_by("user_id").column("late").to_pylist() == [None, True]
    sql = tmp_path / "q.sql"
    sql.write_text("select user_id, late from plays order by user_id")
    for listed in (files, list(reversed(files))):
        table = run_sql(sql, {"plays": LakeView(grown, listed)})
        assert table.to_pylist() == [
            {"user_id": "alice", "late": None},
            {"user_id": "bob", "late": True},
        ]
    one = warehouse.files(grown, ["2026-01-06"])
    assert len(one.schemas) == 1
    assert warehouse.scan(grown, partitions=["2026-01-06"]).column("late").to_pylist() == [True]


def _ordered_spec() -> TableSpec:
    return TableSpec(
        "ordered",
        "One row per thing.",
        [
            Column("user_id", pa.string(), "who", nullable=False),
            Column("at", pa.timestamp("us", "UTC"), "when"),
            Column("score", pa.float64(), "how much"),
            Column("row", pa.int64(), "where it came from"),
        ],
        sort_by=["user_id", "at", "score"],
    )


@pytest.mark.parametrize("seed", range(6))
def test_conform_orders_rows_as_a_stable_sort_does(seed: int) -> None:
    """The in-order shortcut must give exactly Arrow's stable sort: on rows already in order
    (shuffled or not), with ties (`row` tells tied rows apart), nulls and NaN."""
    import random

    from spotify_assets.lib.lake.spec import conform

    rng = random.Random(seed)
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    hours = [None if seed % 3 == 2 and i % 17 == 0 else rng.randrange(5) for i in range(300)]
    rows = [
        {
            "user_id": rng.choice(["a", "b", "c"]),
            "at": None if hours[i] is None else start + dt.timedelta(hours=hours[i]),
            "score": float("nan") if seed == 4 and i == 7 else float(rng.randrange(3)),
            "row": i,
        }
        for i in range(300)
    ]
    spec = _ordered_spec()
    table = pa.Table.from_pylist(rows, schema=spec.schema)
    expected = table.sort_by([(k, "ascending") for k in spec.sort_by])
    in_order = pa.Table.from_pylist(expected.to_pylist(), schema=spec.schema)
    for given in (table, in_order):
        assert conform(spec, given).column("row").to_pylist() == expected.column("row").to_pylist()
    # One row out of place in a long run of ordered ones is caught.
    swapped = expected.to_pylist()
    swapped[100], swapped[200] = swapped[200], swapped[100]
    swapped_table = pa.Table.from_pylist(swapped, schema=spec.schema)
    if swapped_table.column("row").to_pylist() != expected.column("row").to_pylist():
        assert (
            conform(spec, swapped_table).column("row").to_pylist()
            == swapped_table.sort_by([(k, "ascending") for k in spec.sort_by])
            .column("row")
            .to_pylist()
        )


def test_a_commit_names_only_files_whose_folder_was_synced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file renamed into place is durable only once its folder is fsynced: a machine that
    loses power after the manifest commit must not come back without a file it names. Power
    loss is out of a test's reach, so the order of the two is what is checked."""
    from spotify_assets.lib.lake import manifest, store

    synced: set[Path] = set()
    unsynced: list[str] = []
    fsync_path, commit = store.fsync_path, manifest.Manifest.commit

    def record_sync(folder: Path) -> None:
        synced.add(Path(folder))
        fsync_path(folder)

    def check_commit(self, changes, **kwargs):
        for change in changes:
            if change.entry and (tmp_path / change.entry.path).parent not in synced:
                unsynced.append(change.entry.path)
        return commit(self, changes, **kwargs)

    monkeypatch.setattr(store, "fsync_path", record_sync)
    monkeypatch.setattr(manifest.Manifest, "commit", check_commit)
    lake = Lake(tmp_path)
    unpartitioned = TableSpec("totals", "One row per user.", [PLAYS.columns[0]], partitioned=False)
    lake.write(unpartitioned, [{"user_id": "alice"}])
    lake.write(PLAYS, _rows(3) + _rows(2, "bob"), "2026-01-05")
    days = ["2026-01-30", "2026-01-31", "2026-02-01", "2026-02-02"]
    lake.write_partitions(DAYS, _day_rows(12), "day", days)
    with lake.transaction() as tx:
        tx.write_each(PLAYS, {"2026-02-01": _rows(1), "2026-02-02": _rows(2)})
    lake.remove_user_rows("bob")
    assert unsynced == [] and len(synced) >= 4


def test_many_files_get_their_names_only_once_synced_and_a_failure_leaves_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files of one write are synced apart from their encoding, many at once: each must still
    be fsynced before it takes its final name, and one that fails to encode leaves neither a
    temp file nor a commit behind."""
    from spotify_assets.lib.lake import files

    synced: set[int] = set()
    unsynced: list[str] = []
    fsync, replace = os.fsync, os.replace

    def record_fsync(fd: int) -> None:
        synced.add(os.fstat(fd).st_ino)
        fsync(fd)

    def check_replace(src, dst) -> None:
        if os.stat(src).st_ino not in synced:
            unsynced.append(str(dst))
        replace(src, dst)

    monkeypatch.setattr(files.os, "fsync", record_fsync)
    monkeypatch.setattr(files.os, "replace", check_replace)

    def one_a_day(first: dt.date, count: int) -> tuple[list[dict], list[str]]:
        days = [first + dt.timedelta(days=i) for i in range(count)]
        return [{"user_id": "u", "day": d, "track": "t"} for d in days], [str(d) for d in days]

    lake = Lake(tmp_path / "lake")
    rows, january = one_a_day(dt.date(2026, 1, 1), 28)
    lake.write_partitions(DAYS, rows, "day", january)
    assert unsynced == [] and len(lake.files(DAYS.name)) == 28

    encode = files._parquet_bytes

    def fail_on_the_third(table: pa.Table) -> pa.Buffer:
        if table.num_rows and table.column("day")[0].as_py() == dt.date(2026, 2, 3):
            raise OSError("disk full")
        return encode(table)

    monkeypatch.setattr(files, "_parquet_bytes", fail_on_the_third)
    generation = lake.generation()
    rows, february = one_a_day(dt.date(2026, 2, 1), 7)
    with pytest.raises(OSError, match="disk full"):
        lake.write_partitions(DAYS, rows, "day", february)
    assert lake.generation() == generation
    assert not list((tmp_path / "lake").rglob(".*tmp*"))


def test_rewriting_a_partition_with_the_same_rows_creates_no_file(tmp_path: Path) -> None:
    """A newer export repeats the whole history: its unchanged days give the same bytes, the
    same name, and no new file (creating one is the largest part of a day file's cost)."""
    lake = Lake(tmp_path)
    first = lake.write(PLAYS, _rows(3), "2026-01-05").path
    before = first.stat()
    again = lake.write(PLAYS, _rows(3), "2026-01-05").path
    assert again == first and lake.files("plays") == [first]
    after = first.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    with lake.transaction() as tx:
        tx.write_each(PLAYS, {"2026-01-05": _rows(3), "2026-01-06": _rows(1)})
    assert first.stat().st_ino == before.st_ino and len(lake.files("plays")) == 2
    changed = lake.write(PLAYS, _rows(4), "2026-01-05").path
    assert changed != first and lake.read("plays").num_rows == 5
