"""The DuckDB catalog: views over the lake, readable while runs publish, CLI-compatible."""

import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pyarrow as pa

from spotify_assets.lib.catalog import refresh_catalog, summarize
from spotify_assets.lib.lake import Column, Lake, TableSpec

A = TableSpec("alpha", "One row per alpha.", [Column("user_id", pa.string(), "the user")])
B = TableSpec("beta", "One row per beta.", [Column("n", pa.int64(), "a number")])

ANALYST = textwrap.dedent(
    """
    import sys, duckdb
    con = duckdb.connect(sys.argv[1], read_only=True)
    print(con.execute("select count(*) from alpha").fetchone()[0], flush=True)
    sys.stdin.readline()  # hold the connection while the pipeline publishes
    print(con.execute("select count(*) from alpha").fetchone()[0], flush=True)
    """
)


def test_views_and_comments(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    lake.write(A, [{"user_id": "a"}, {"user_id": "b"}], "2026-01-01")
    db = refresh_catalog(lake, tmp_path / "warehouse.duckdb")
    assert summarize(db).views == {"alpha": 2}
    con = duckdb.connect(str(db), read_only=True)
    try:
        comment = con.execute(
            "select comment from duckdb_views() where view_name = 'alpha'"
        ).fetchone()[0]
        column = con.execute(
            "select comment from duckdb_columns() where table_name = 'alpha'"
        ).fetchone()[0]
    finally:
        con.close()
    assert (comment, column) == ("One row per alpha.", "the user")


def test_derived_views_wait_for_their_tables(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    lake.write(A, [{"user_id": "a"}], "2026-01-01")
    extra = {"beta_total": "select sum(n) as total from beta", "alpha_users": "select * from alpha"}
    db = refresh_catalog(lake, tmp_path / "w.duckdb", extra_sql=extra)
    assert set(summarize(db).views) == {"alpha", "alpha_users"}
    lake.write(B, [{"n": 2}], None if not B.partitioned else "2026-01-01")
    assert set(summarize(refresh_catalog(lake, db, extra_sql=extra)).views) == {
        "alpha",
        "alpha_users",
        "beta",
        "beta_total",
    }


def test_an_open_analyst_connection_and_a_publishing_run_both_succeed(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    db = tmp_path / "warehouse.duckdb"
    lake.write(A, [{"user_id": "a"}], "2026-01-01")
    refresh_catalog(lake, db)
    analyst = subprocess.Popen(
        [sys.executable, "-c", ANALYST, str(db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert analyst.stdout.readline().strip() == "1"
    # While the analyst holds the file open, a run writes new data and republishes.
    lake.write(A, [{"user_id": "b"}], "2026-01-02")
    lake.write(B, [{"n": 1}], "2026-01-01")
    refresh_catalog(lake, db)
    analyst.stdin.write("\n")
    analyst.stdin.flush()
    assert analyst.stdout.readline().strip() == "2"  # views glob the lake: new rows show
    assert analyst.wait(timeout=30) == 0
    assert summarize(db).views == {"alpha": 2, "beta": 1}  # new connections see the new view


def test_the_duckdb_cli_from_pypi_opens_the_catalog(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    lake.write(A, [{"user_id": "a"}], "2026-01-01")
    db = refresh_catalog(lake, tmp_path / "warehouse.duckdb")
    cli = Path(sys.executable).parent / "duckdb"
    out = subprocess.run(
        [str(cli), "-readonly", str(db), "-csv", "-c", "select count(*) as n from alpha"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.split() == ["n", "1"]


def test_publish_rebuilds_only_when_tables_docs_or_views_change(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    db_path = tmp_path / "w.duckdb"
    lake.write(A, [{"user_id": "a"}], "2026-01-01")
    refresh_catalog(lake, db_path)
    first = db_path.stat().st_ino
    lake.write(A, [{"user_id": "b"}, {"user_id": "c"}], "2026-01-02")
    refresh_catalog(lake, db_path)
    assert db_path.stat().st_ino == first  # not rebuilt: the view's glob sees the new file
    assert summarize(db_path).views == {"alpha": 3}

    lake.write(B, [{"n": 1}], "2026-01-01")  # a new table
    refresh_catalog(lake, db_path)
    assert db_path.stat().st_ino != first
    assert summarize(db_path).views == {"alpha": 3, "beta": 1}

    second = db_path.stat().st_ino
    documented = TableSpec("alpha", "One row per alpha, reworded.", A.columns)
    lake.write(documented, [{"user_id": "a"}], "2026-01-01")  # same table, new doc
    refresh_catalog(lake, db_path)
    assert db_path.stat().st_ino != second
    third = db_path.stat().st_ino
    refresh_catalog(lake, db_path, extra_sql={"n_total": "select sum(n) as total from beta"})
    assert db_path.stat().st_ino != third
    assert summarize(db_path).views["n_total"] == 1
