"""The lake writer: explicit schemas, whole-partition replacement, crash safety."""

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
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


def _rows(n: int, user: str = "alice") -> list[dict]:
    return [{"user_id": user, "track": f"t{i:07d}", "ms_played": i} for i in range(n)]


def test_partition_path_and_replacement(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    written = lake.write(PLAYS, _rows(3), "2026-01-05")
    assert written.path == tmp_path / "plays" / "2026-01-05.parquet"
    assert written.rows == 3
    lake.write(PLAYS, _rows(1), "2026-01-05")
    assert pq.read_table(written.path).num_rows == 1  # replaced whole, not appended
    assert lake.partitions("plays") == ["2026-01-05"]


def test_same_input_gives_byte_identical_files(tmp_path: Path) -> None:
    a, b = Lake(tmp_path / "a"), Lake(tmp_path / "b")
    rows = _rows(50)
    a.write(PLAYS, rows, "2026-01-05")
    b.write(PLAYS, list(reversed(rows)), "2026-01-05")  # order does not matter: sort_by
    digest = [
        hashlib.sha256(lake.partition_path("plays", "2026-01-05").read_bytes()).hexdigest()
        for lake in (a, b)
    ]
    assert digest[0] == digest[1]


def test_schema_is_enforced(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    with pytest.raises(SchemaMismatchError, match="unknown columns \\['surprise'\\]"):
        lake.write(PLAYS, [{"user_id": "a", "track": "t", "ms_played": 1, "surprise": 1}], "d")
    with pytest.raises(SchemaMismatchError, match="user_id has nulls"):
        lake.write(PLAYS, [{"user_id": None, "track": "t", "ms_played": 1}], "d")
    with pytest.raises(SchemaMismatchError):
        lake.write(PLAYS, [{"user_id": "a", "track": "t", "ms_played": "lots"}], "d")
    assert not list(lake.files("plays"))


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
    assert lake.read("plays", "2026-01-06").schema.equals(PLAYS.schema)


WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    sys.path.insert(0, {root!r})
    from spotify_assets_tests.lib.test_lake import PLAYS, _rows
    from spotify_assets.lib.lake import Lake
    Lake(Path({lake!r})).write(PLAYS, _rows(3_000_000, "bob"), "2026-01-05")
    """
)


def test_kill_9_mid_write_leaves_the_previous_partition_intact(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    lake.write(PLAYS, _rows(5), "2026-01-05")
    before = lake.partition_path("plays", "2026-01-05").read_bytes()
    root = str(Path(__file__).resolve().parents[2])
    child = subprocess.Popen([sys.executable, "-c", WRITER.format(root=root, lake=str(lake.root))])
    pattern = f".2026-01-05.parquet.tmp-{child.pid}-*"
    deadline = time.monotonic() + 60
    while not (temps := list(lake.table_dir("plays").glob(pattern))) or not temps[0].stat().st_size:
        assert child.poll() is None, "writer finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    temp = temps[0]
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert temp.exists()  # the crash left its partial file behind ...
    assert lake.partition_path("plays", "2026-01-05").read_bytes() == before  # ... not here
    # ... and readers that glob the table never see it.
    rows = duckdb.sql(
        f"select count(*), min(user_id) from read_parquet('{lake.glob('plays')}')"
    ).fetchall()
    assert rows == [(5, "alice")]
    lake.write(PLAYS, _rows(2), "2026-01-06")  # the next write sweeps the dead writer's temp
    assert not temp.exists()


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


def test_write_partitions_equals_one_write_per_partition(tmp_path: Path) -> None:
    import datetime as dt

    days = [dt.date(2026, 1, 1) + dt.timedelta(days=i) for i in range(5)]
    rows = [
        {"user_id": f"u{i % 3}", "day": days[i % 4], "track": f"t{(i * 7) % 50:03d}"}
        for i in range(200)
    ]  # no rows for the last day
    batch, single = Lake(tmp_path / "batch"), Lake(tmp_path / "single")
    keys = [d.isoformat() for d in days]
    counts = batch.write_partitions(DAYS, list(reversed(rows)), "day", keys)
    for d in days:
        single.write(DAYS, [r for r in rows if r["day"] == d], d.isoformat())
    assert counts == {k: sum(r["day"].isoformat() == k for r in rows) for k in keys}
    assert counts[keys[-1]] == 0
    for key in keys:
        a = batch.partition_path("days", key).read_bytes()
        assert a == single.partition_path("days", key).read_bytes(), key
    assert not [p for p in (tmp_path / "batch" / "days").iterdir() if ".tmp-" in p.name]


def test_write_partitions_refuses_rows_outside_the_partitions(tmp_path: Path) -> None:
    import datetime as dt

    lake = Lake(tmp_path)
    rows = [{"user_id": "u", "day": dt.date(2026, 1, 9), "track": "t"}]
    with pytest.raises(ValueError, match="2026-01-09"):
        lake.write_partitions(DAYS, rows, "day", ["2026-01-08"])
    assert not (tmp_path / "days" / "2026-01-08.parquet").exists()


def test_write_many_with_a_failing_writer_leaves_no_temp_file(tmp_path: Path) -> None:
    from spotify_assets.lib.atomic import write_many_with

    def good(tmp: Path) -> None:
        tmp.write_bytes(b"ok")

    def bad(tmp: Path) -> None:
        tmp.write_bytes(b"half")
        raise OSError("disk full")

    jobs = [(tmp_path / f"f{i}", bad if i == 5 else good) for i in range(20)]
    with pytest.raises(OSError, match="disk full"):
        write_many_with(jobs, workers=4)
    names = sorted(p.name for p in tmp_path.iterdir())
    # Jobs not started when f5 failed are cancelled; whatever was published is whole.
    assert "f5" not in names and names
    assert all((tmp_path / n).read_bytes() == b"ok" for n in names), names
