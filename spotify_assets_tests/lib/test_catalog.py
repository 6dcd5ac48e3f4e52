"""The DuckDB catalog: one generation of the lake per file, readable while runs publish,
relocatable, CLI-compatible."""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from spotify_assets.lib.catalog import (
    SNAPSHOT_DIR,
    DerivedView,
    catalog_generation,
    connect,
    current_target,
    load_view_sql,
    point_catalog,
    refresh_catalog,
    summarize,
)
from spotify_assets.lib.lake import Column, Lake, TableSpec

A = TableSpec("alpha", "One row per alpha.", [Column("user_id", pa.string(), "the user")])
B = TableSpec("beta", "One row per beta.", [Column("n", pa.int64(), "a number")])

ANALYST = textwrap.dedent(
    """
    import os, sys, duckdb
    os.chdir(os.path.dirname(sys.argv[1]))  # the catalog's lake paths are relative to it
    con = duckdb.connect(sys.argv[1], read_only=True)
    snapshot = "select is_latest from warehouse_snapshot"
    print(con.execute("select count(*) from alpha").fetchone()[0], flush=True)
    sys.stdin.readline()  # hold the connection while the pipeline publishes
    print(con.execute("select count(*) from alpha").fetchone()[0], flush=True)
    print(con.execute(snapshot).fetchone()[0], flush=True)
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


def test_tables_live_in_their_domain_schema_with_a_main_alias(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    lake.write(A, [{"user_id": "a"}, {"user_id": "b"}], "2026-01-01")
    views = {
        "alpha_count": DerivedView(
            "reports",
            "select count(*) as n, min(user_id) as user_id from listening.alpha",
            doc="How many alphas.",
            columns=(("n", "the count"),),
        )
    }
    db = refresh_catalog(lake, tmp_path / "w.duckdb", views=views, schemas={"alpha": "listening"})
    assert summarize(db).views == {"alpha": 2, "alpha_count": 1}
    con = connect(db)
    try:
        assert con.execute("select count(*) from listening.alpha").fetchone()[0] == 2
        # Queries written before the schemas still work, and say where the table went.
        assert con.execute("select count(*) from alpha").fetchone()[0] == 2
        rows = dict(
            con.execute(
                "select schema_name || '.' || view_name, comment from duckdb_views() "
                "where not internal and view_name like 'alpha%'"
            ).fetchall()
        )
        columns = dict(
            con.execute(
                "select column_name, comment from duckdb_columns() "
                "where schema_name = 'reports' and table_name = 'alpha_count'"
            ).fetchall()
        )
    finally:
        con.close()
    assert rows["listening.alpha"] == "One row per alpha."
    assert rows["main.alpha"].startswith("Alias of listening.alpha, kept until")
    assert rows["reports.alpha_count"] == "How many alphas."
    # `n` is documented in the view file; `user_id` inherits the doc of the table it reads.
    assert columns == {"n": "the count", "user_id": "the user"}


def test_view_files_name_their_schema_doc_and_columns(tmp_path: Path) -> None:
    folder = tmp_path / "tops" / "sql" / "views"
    folder.mkdir(parents=True)
    (folder / "best.sql").write_text(
        "-- The best rows.\n-- Really.\n-- column n: how many\nselect 1 as n;\n"
    )
    assert load_view_sql(tmp_path) == {
        "best": DerivedView(
            "tops",
            "-- The best rows.\n-- Really.\n-- column n: how many\nselect 1 as n",
            doc="The best rows. Really.",
            columns=(("n", "how many"),),
        )
    }


def test_every_view_file_of_the_graph_is_documented() -> None:
    from spotify_assets.defs.resources import DEFS_DIR

    undocumented = [name for name, view in load_view_sql(DEFS_DIR).items() if not view.doc]
    assert undocumented == []


def test_derived_views_wait_for_their_tables(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    lake.write(A, [{"user_id": "a"}], "2026-01-01")
    extra = {
        "beta_total": DerivedView("main", "select sum(n) as total from beta"),
        "alpha_users": DerivedView("main", "select * from alpha"),
    }
    db = refresh_catalog(lake, tmp_path / "w.duckdb", views=extra)
    assert set(summarize(db).views) == {"alpha", "alpha_users"}
    lake.write(B, [{"n": 2}], None if not B.partitioned else "2026-01-01")
    assert set(summarize(refresh_catalog(lake, db, views=extra)).views) == {
        "alpha",
        "alpha_users",
        "beta",
        "beta_total",
    }


def test_an_open_connection_keeps_its_generation_and_is_told_it_is_old(tmp_path: Path) -> None:
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
    # Its snapshot does not change under it (no mix of generations), and it can tell.
    assert analyst.stdout.readline().strip() == "1"
    assert analyst.stdout.readline().strip() == "False"
    assert analyst.wait(timeout=30) == 0
    assert summarize(db).views == {"alpha": 2, "beta": 1}  # new connections see the new one


def test_each_publish_is_a_new_file_that_never_changes_and_the_name_links_to_it(
    tmp_path: Path,
) -> None:
    """DuckDB opens a database three times (magic, headers, blocks). When a publish renamed a
    new catalog over the old one in between, a reader paired one catalog's headers with the
    other's blocks ("No more data remaining in MetadataReader"), about one open in 30,000
    during an import. Now `warehouse.duckdb` is a link to a catalog file that never changes:
    DuckDB resolves the link once and opens the file it names, however often it moves."""
    lake = Lake(tmp_path / "lake")
    db = tmp_path / "warehouse.duckdb"
    lake.write(A, [{"user_id": "a"}], "2026-01-01")
    refresh_catalog(lake, db)
    first = current_target(db)
    first_bytes = first.read_bytes()
    con = duckdb.connect(str(db), read_only=True)
    try:
        # What the scheme relies on: DuckDB opened the file the link named, under the name
        # `warehouse` (the catalog's name in fully qualified queries).
        path, name = con.execute(
            "select path, database_name from duckdb_databases() where database_name = "
            "current_database()"
        ).fetchone()
        assert Path(path) == first.resolve() and name == "warehouse"
    finally:
        con.close()
    for day in ("2026-01-02", "2026-01-03"):
        lake.write(A, [{"user_id": day}], day)
        refresh_catalog(lake, db)
    assert db.is_symlink() and current_target(db) != first
    assert first.read_bytes() == first_bytes  # published once, never written again
    assert summarize(db).views == {"alpha": 3}
    # Relative, so a copied or moved data folder links to its own catalog.
    assert not Path(os.readlink(db)).is_absolute()


FRESH_READER = textwrap.dedent(
    """
    import sys, time, duckdb
    path, seconds = sys.argv[1], float(sys.argv[2])
    ok, failed, end = 0, [], time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            con = duckdb.connect(path, read_only=True)
            assert con.execute("select n from answer").fetchone()[0] in (3, 300)
            con.close()
            ok += 1
        except Exception as exc:
            failed.append(str(exc).splitlines()[0])
    print(ok, len(failed), failed[:3])
    """
)


@pytest.mark.slow
def test_new_connections_never_fail_while_the_link_moves(tmp_path: Path) -> None:
    """Two catalogs of very different sizes, the link swapped between them as fast as a
    publish can (`point_catalog`), two readers opening a new connection per query. With a rename of
    the catalog file itself, the same race failed 39 of 1,727 opens in 20 s (MetadataReader):
    docs/benchmarks.md."""
    db = tmp_path / "warehouse.duckdb"
    catalogs = []
    for n in (3, 300):
        path = tmp_path / SNAPSHOT_DIR / f"{n}" / db.name
        path.parent.mkdir(parents=True)
        con = duckdb.connect(str(path), config={"storage_compatibility_version": "v1.4.0"})
        con.execute("begin")
        for i in range(n):
            con.execute(f"create view v{i} as select {i} as x")
        con.execute(f"create view answer as select {n} as n")
        con.execute("commit")
        con.close()
        catalogs.append(path)
    point_catalog(db, catalogs[0])
    readers = [
        subprocess.Popen(
            [sys.executable, "-c", FRESH_READER, str(db), "5"], stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    swaps = 0
    while any(r.poll() is None for r in readers):
        point_catalog(db, catalogs[swaps % 2])
        swaps += 1
    results = [r.communicate()[0].strip().split(maxsplit=2) for r in readers]
    assert all(r.returncode == 0 for r in readers)
    opened = sum(int(ok) for ok, _, _ in results)
    assert swaps > 1_000 and opened > 100  # the link moved during the opens
    assert [(int(failed), errors) for _, failed, errors in results] == [(0, "[]")] * 2


def test_a_catalog_of_the_layout_before_links_is_kept_for_its_readers(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    db = tmp_path / "warehouse.duckdb"
    lake.write(A, [{"user_id": "a"}], "2026-01-01")
    refresh_catalog(lake, db)
    shutil.copyfile(current_target(db), tmp_path / "plain.duckdb")
    plain = (tmp_path / "plain.duckdb").read_bytes()
    os.replace(tmp_path / "plain.duckdb", db)  # a data folder from before: a plain file
    lake.write(A, [{"user_id": "b"}], "2026-01-02")
    refresh_catalog(lake, db)
    assert db.is_symlink() and summarize(db).views == {"alpha": 2}
    ((name, _, _),) = lake.manifest.snapshots()
    assert (tmp_path / name).read_bytes() == plain  # its hard link, for readers' locks


def test_a_publish_killed_before_its_link_moved_leaves_nothing_behind(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    db = tmp_path / "warehouse.duckdb"
    lake.write(A, [{"user_id": "a"}], "2026-01-01")
    refresh_catalog(lake, db)
    dead = tmp_path / SNAPSHOT_DIR / "0000000009-deadbeef"
    dead.mkdir()
    (dead / "warehouse.duckdb").write_bytes(b"half a catalog")
    lake.write(A, [{"user_id": "b"}], "2026-01-02")
    refresh_catalog(lake, db)
    folders = set((tmp_path / SNAPSHOT_DIR).iterdir())
    assert dead not in folders and current_target(db).parent in folders
    assert {(tmp_path / name).parent for name, _, _ in lake.manifest.snapshots()} == (
        folders - {current_target(db).parent}
    )


def test_the_duckdb_cli_from_pypi_opens_the_catalog(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "data" / "lake")
    lake.write(A, [{"user_id": "a"}], "2026-01-01")
    db = refresh_catalog(lake, tmp_path / "data" / "warehouse.duckdb")
    cli = Path(sys.executable).parent / "duckdb"
    query = ["-csv", "-c", "select count(*) as n from alpha"]
    # From the data folder, as the README says ...
    out = subprocess.run(
        [str(cli), "-readonly", db.name, *query],
        capture_output=True,
        text=True,
        check=True,
        cwd=db.parent,
    )
    assert out.stdout.split() == ["n", "1"]
    # ... or from anywhere with DuckDB's file_search_path (what `spotify-assets sql` sets).
    out = subprocess.run(
        [str(cli), "-readonly", "-cmd", f"set file_search_path = '{db.parent}'", str(db), *query],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    assert out.stdout.split() == ["n", "1"]


def test_publish_rebuilds_only_when_the_generation_docs_or_views_change(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    db_path = tmp_path / "w.duckdb"
    lake.write(A, [{"user_id": "a"}], "2026-01-01")
    refresh_catalog(lake, db_path)
    first = db_path.stat().st_ino
    refresh_catalog(lake, db_path)
    assert db_path.stat().st_ino == first  # nothing new: not rebuilt
    lake.write(A, [{"user_id": "a"}], "2026-01-01")  # the same content: no new generation
    refresh_catalog(lake, db_path)
    assert db_path.stat().st_ino == first

    lake.write(A, [{"user_id": "b"}, {"user_id": "c"}], "2026-01-02")
    refresh_catalog(lake, db_path)
    assert db_path.stat().st_ino != first
    assert summarize(db_path).views == {"alpha": 3}
    assert catalog_generation(db_path) == lake.generation() == 2

    second = db_path.stat().st_ino
    total = DerivedView("main", "select count(*) as n from alpha")
    refresh_catalog(lake, db_path, views={"alpha_total": total})
    assert db_path.stat().st_ino != second
    assert summarize(db_path).views["alpha_total"] == 1


def test_a_copied_data_folder_answers_with_its_own_lake(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "data" / "lake")
    lake.write(A, [{"user_id": "a"}], "2026-01-01")
    refresh_catalog(lake, tmp_path / "data" / "warehouse.duckdb")
    shutil.copytree(tmp_path / "data", tmp_path / "copy")
    copied = Lake(tmp_path / "copy" / "lake")
    copied.write(A, [{"user_id": "b"}], "2026-01-02")  # the copy goes its own way
    assert summarize(tmp_path / "data" / "warehouse.duckdb").views == {"alpha": 1}
    # Even before its own publish, the copied catalog reads the copied lake ...
    assert summarize(tmp_path / "copy" / "warehouse.duckdb").views == {"alpha": 1}
    shutil.rmtree(tmp_path / "data")  # ... and needs nothing of the original
    refresh_catalog(copied, tmp_path / "copy" / "warehouse.duckdb")
    assert summarize(tmp_path / "copy" / "warehouse.duckdb").views == {"alpha": 2}
    stored = (tmp_path / "copy" / "warehouse.duckdb").read_bytes()
    assert str(tmp_path).encode() not in stored


def test_a_table_without_rows_is_an_empty_typed_view(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    lake.write_partitions(B, [], "n", ["1"])  # documented, but no partition has rows
    db = refresh_catalog(lake, tmp_path / "w.duckdb")
    con = connect(db)
    try:
        assert con.execute("select count(*) from beta").fetchone() == (0,)
        assert con.execute("describe beta").fetchall()[0][:2] == ("n", "BIGINT")
    finally:
        con.close()


PUBLISHER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    sys.path.insert(0, {root!r})
    from spotify_assets.lib.catalog import refresh_catalog
    from spotify_assets.lib.lake import Lake
    from spotify_assets_tests.lib.test_catalog import A
    lake = Lake(Path({lake!r}))
    me = sys.argv[1]
    for i in range(15):
        lake.write(A, [{{"user_id": f"p{{me}}-{{i}}"}}], f"k{{me}}-{{i}}")
        refresh_catalog(lake, Path({db!r}))
    """
)


def test_concurrent_publishers_end_on_the_latest_generation(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    db = tmp_path / "warehouse.duckdb"
    root = str(Path(__file__).resolve().parents[2])
    script = PUBLISHER.format(root=root, lake=str(lake.root), db=str(db))
    children = [subprocess.Popen([sys.executable, "-c", script, str(n)]) for n in range(2)]
    assert [c.wait(timeout=120) for c in children] == [0, 0]
    assert catalog_generation(db) == lake.generation() == 30
    assert summarize(db).views == {"alpha": 30}
    assert not [p for p in os.listdir(tmp_path) if ".tmp-" in p]


def _contents(db: Path) -> dict[str, list[tuple]]:
    """Everything an analyst can see in a catalog file but when it was built."""
    con = connect(db)
    try:
        return {
            "schemas": con.execute(
                "select schema_name from duckdb_schemas() where not internal "
                "and database_name = current_database() order by all"
            ).fetchall(),
            "views": con.execute(
                "select schema_name, view_name, comment, "
                "case when view_name = 'warehouse_snapshot' then '' else sql end "
                "from duckdb_views() where not internal order by all"
            ).fetchall(),
            "columns": con.execute(
                "select schema_name, table_name, column_name, data_type, comment "
                "from duckdb_columns() where database_name = current_database() order by all"
            ).fetchall(),
        }
    finally:
        con.close()


@pytest.fixture
def started_from(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """For each catalog built, whether it started from a copy of the last one."""
    import spotify_assets.lib.catalog as catalog

    started: list[bool] = []
    build = catalog.build_catalog

    def spied(*args: object, previous: dict | None = None) -> None:
        started.append(previous is not None)
        build(*args, previous=previous)

    monkeypatch.setattr(catalog, "build_catalog", spied)
    return started


def test_a_publish_from_the_last_catalog_makes_the_file_a_build_from_nothing_makes(
    tmp_path: Path, started_from: list[bool]
) -> None:
    lake = Lake(tmp_path / "lake")
    db, scratch = tmp_path / "warehouse.duckdb", tmp_path / "scratch"
    views = {
        "beta_total": DerivedView("reports", "select sum(n) as total from beta", doc="Sum."),
        "alpha_users": DerivedView("reports", "select user_id from alpha", doc="Users."),
    }
    a_doc = TableSpec("alpha", "Alpha, documented again.", list(A.columns))
    steps = [
        ("first", lambda: lake.write(A, [{"user_id": "a"}], "2026-01-01"), {"alpha": "listening"}),
        # A partition named after a listener, as `<day>/<user>` snapshot tables have.
        (
            "a new partition",
            lambda: lake.write(A, [{"user_id": "leaver"}], "2026-01-02/leaver"),
            None,
        ),
        ("a new table", lambda: lake.write(B, [{"n": 2}], "2026-01-01"), None),
        ("a day rewritten", lambda: lake.write(A, [{"user_id": "c"}], "2026-01-01"), None),
        ("a user forgotten", lambda: lake.remove_user_rows("leaver"), None),
        ("a table's doc", lambda: lake.write(a_doc, [{"user_id": "d"}], "2026-01-03"), None),
        ("a table moved", lambda: None, {"alpha": "history"}),
    ]
    schemas = {}
    for name, change, moved in steps:
        change()
        schemas = moved or schemas
        refresh_catalog(lake, db, views=views, schemas=schemas)
        # The same generation built from nothing, beside it (its paths are relative to it).
        scratch.mkdir()
        fresh = refresh_catalog(lake, scratch / "warehouse.duckdb", views=views, schemas=schemas)
        # Lake paths: relative to each catalog's folder, so the scratch one has one more `..`.
        got, want = _contents(db), _contents(fresh)
        want["views"] = [(*v[:3], v[3].replace("'../lake/", "'lake/")) for v in want["views"]]
        assert got == want, name
        shutil.rmtree(scratch)
        if name == "a user forgotten":
            # Built from nothing: a copy would keep the replaced views' bytes, their name too.
            assert b"leaver" not in db.read_bytes()
    # Every publish after the first started from the last catalog but the one after a
    # partition went; the scratch builds started from nothing.
    copied = [True, True, True, False, True, True]
    assert started_from == [False, False] + [x for c in copied for x in (c, False)]
    # c (day 1 rewritten) and d; the leaver was forgotten.
    assert summarize(db).views == {"alpha": 2, "alpha_users": 2, "beta": 1, "beta_total": 1}
    assert _contents(db)["schemas"] == [("history",), ("reports",)]  # `listening` went empty


def test_a_catalog_whose_state_is_unreadable_is_built_from_nothing(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    db = tmp_path / "warehouse.duckdb"
    lake.write(A, [{"user_id": "a"}], "2026-01-01")
    refresh_catalog(lake, db)
    state = current_target(db).parent / "tables.json"
    assert json.loads(state.read_text())["tables"].keys() == {"alpha"}
    state.write_text('{"base": "torn')
    lake.write(A, [{"user_id": "b"}], "2026-01-02")
    assert summarize(refresh_catalog(lake, db)).views == {"alpha": 2}


def test_a_catalog_an_analyst_wrote_to_is_not_copied(
    tmp_path: Path, started_from: list[bool]
) -> None:
    lake = Lake(tmp_path / "lake")
    db = tmp_path / "warehouse.duckdb"
    lake.write(A, [{"user_id": "a"}], "2026-01-01")
    refresh_catalog(lake, db)
    lake.write(A, [{"user_id": "b"}], "2026-01-02")
    refresh_catalog(lake, db)
    # `duckdb warehouse.duckdb` without -readonly, and a table of one's own.
    con = duckdb.connect(str(db))
    con.execute("create table my_notes as select 1 as n")
    con.close()
    lake.write(A, [{"user_id": "c"}], "2026-01-03")
    refresh_catalog(lake, db)
    assert started_from == [False, True, False]
    con = connect(db)
    try:
        tables = con.execute("select table_name from duckdb_tables()").fetchall()
    finally:
        con.close()
    assert tables == [] and summarize(db).views == {"alpha": 3}
