"""Benchmark: snapshot reads over the lake, against the glob-and-rename layout they replaced.

One synthetic lake of `days` day files per table (5 tables), in two layouts, in the same run:
- **rename** (the daily layout until 2026-12): one file per day at a fixed path, replaced by
  rename; the catalog's views glob the table folder;
- **manifest** (now): immutable files named by their content, made current by the manifest; each
  publish builds a catalog whose views list the exact files of one generation.
For each: how long a publish takes, how long a reader's `count(*)` over a table takes, and how
many of a reader's queries fail (and how many see a mix of two versions) while a writer keeps
rewriting days, with a new connection per query, as an analyst's notebook or the CLI would.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa

TABLES = ("plays", "daily_listening", "listening_sessions", "listening_coverage", "episode_plays")
ROWS_PER_DAY = 400
# A reader process, in a loop: count the rows of `plays`, and the writer's steps it sees only in
# part (each step rewrites 7 days with one version stamp: a whole step shows 7 days or none).
READER = textwrap.dedent(
    """
    import json, os, sys, time
    import duckdb
    catalog, seconds = sys.argv[1], float(sys.argv[2])
    os.chdir(os.path.dirname(catalog))
    end, ok, failed, mixed = time.monotonic() + seconds, 0, 0, 0
    while time.monotonic() < end:
        try:
            con = duckdb.connect(catalog, read_only=True)
            rows, torn = con.execute(
                "select (select count(*) from plays), (select count(*) from (select version, "
                "count(distinct day) as days from plays where version > 0 group by version) "
                "where days <> 7)"
            ).fetchone()
            con.close()
            ok += 1
            mixed += torn > 0
        except Exception:
            failed += 1
    print(json.dumps({"ok": ok, "failed": failed, "mixed": mixed}))
    """
)


def _spec():
    from spotify_assets.lib.lake import Column, TableSpec

    return {
        name: TableSpec(
            name,
            f"synthetic {name}",
            [
                Column("day", pa.date32(), "day", nullable=False),
                Column("n", pa.int64(), "row", nullable=False),
                Column("version", pa.int64(), "which write", nullable=False),
                Column("payload", pa.string(), "bytes to read"),
            ],
            sort_by=["n"],
        )
        for name in TABLES
    }


def _rows(day: date, version: int) -> pa.Table:
    n = list(range(ROWS_PER_DAY))
    return pa.table(
        {
            "day": pa.array([day] * ROWS_PER_DAY, pa.date32()),
            "n": pa.array(n, pa.int64()),
            "version": pa.array([version] * ROWS_PER_DAY, pa.int64()),
            "payload": pa.array([f"{day}-{i}-{version}" * 8 for i in n]),
        }
    )


def _days(count: int) -> list[date]:
    return [date(2016, 1, 1) + timedelta(days=i) for i in range(count)]


def _rename_layout(root: Path, days: list[date]) -> Path:
    import duckdb
    import pyarrow.parquet as pq

    from spotify_assets.lib.atomic import atomic_path

    db = root / "warehouse.duckdb"
    for table in TABLES:
        for day in days:
            with atomic_path(root / "lake" / table / f"{day}.parquet") as tmp:
                pq.write_table(_rows(day, 0), tmp)
    con = duckdb.connect(str(db))
    for table in TABLES:
        glob = str((root / "lake" / table).resolve() / "*.parquet")
        con.execute(f"create view {table} as select * from read_parquet('{glob}')")
    con.close()
    return db


def _manifest_layout(root: Path, days: list[date]):
    from spotify_assets.lib.catalog import refresh_catalog
    from spotify_assets.lib.lake import Lake

    lake, specs = Lake(root / "lake"), _spec()
    for table in TABLES:
        data = pa.concat_tables([_rows(day, 0) for day in days])
        lake.write_partitions(specs[table], data, "day", [d.isoformat() for d in days])
    start = time.perf_counter()
    db = refresh_catalog(lake, root / "warehouse.duckdb")
    return lake, db, time.perf_counter() - start


def _count_seconds(db: Path) -> float:
    from spotify_assets.lib.catalog import connect

    best = float("inf")
    for _ in range(5):
        con = connect(db)
        start = time.perf_counter()
        con.execute("select count(*) from plays").fetchone()
        best = min(best, time.perf_counter() - start)
        con.close()
    return best


def _under_writes(db: Path, write_once, seconds: float) -> dict:
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(db), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    writes, publish = 0, []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        publish.append(write_once(writes + 1))
        writes += 1
    out, _ = reader.communicate(timeout=seconds + 120)
    result = json.loads(out.strip().splitlines()[-1])
    result["writes"] = writes
    result["publish_seconds"] = sorted(publish)[len(publish) // 2] if publish else 0.0
    return result


def run(days: int = 3650, seconds: float = 20.0, workdir: Path | None = None) -> dict:
    import pyarrow.parquet as pq

    from spotify_assets.lib.atomic import atomic_path
    from spotify_assets.lib.catalog import refresh_catalog

    workdir = Path(workdir or tempfile.mkdtemp(prefix="spotify_assets_bench_catalog_"))
    day_list = _days(days)
    result: dict = {"days": days, "tables": len(TABLES), "seconds": seconds}

    root = workdir / "rename"
    db = _rename_layout(root, day_list)
    result["rename_count_s"] = _count_seconds(db)

    def rewrite_in_place(version: int) -> float:
        start = time.perf_counter()
        # An import's refresh: a week of days rewritten, one rename each.
        for day in day_list[(version * 7) % days :][:7]:
            with atomic_path(root / "lake" / "plays" / f"{day}.parquet") as tmp:
                pq.write_table(_rows(day, version), tmp)
        return time.perf_counter() - start

    result["rename"] = _under_writes(db, rewrite_in_place, seconds)

    root = workdir / "manifest"
    lake, db, build = _manifest_layout(root, day_list)
    result["manifest_first_publish_s"] = build
    result["manifest_count_s"] = _count_seconds(db)
    plays = _spec()["plays"]

    def rewrite_and_publish(version: int) -> float:
        start = time.perf_counter()
        week = day_list[(version * 7) % days :][:7]
        data = pa.concat_tables([_rows(day, version) for day in week])
        lake.write_partitions(plays, data, "day", [d.isoformat() for d in week])
        refresh_catalog(lake, db)
        return time.perf_counter() - start

    result["manifest"] = _under_writes(db, rewrite_and_publish, seconds)
    return result


def report(result: dict) -> str:
    files = result["days"] * result["tables"]
    lines = [
        f"lake: {result['tables']} tables x {result['days']:,} day files ({files:,} files); "
        f"a reader opens a new connection per query for {result['seconds']:.0f} s while a "
        "writer rewrites a week of plays per step",
    ]
    for name, label in (("rename", "glob + rename in place"), ("manifest", "manifest snapshots")):
        r = result[name]
        total = r["ok"] + r["failed"]
        lines.append(
            f"[{label}] queries {total:,}: failed {r['failed']:,} "
            f"({100 * r['failed'] / max(total, 1):.1f}%), saw part of a write {r['mixed']:,}; "
            f"writer steps {r['writes']:,} (median {r['publish_seconds'] * 1000:.0f} ms each, "
            f"publish included)"
        )
    lines += [
        f"count(*) over plays: glob {result['rename_count_s'] * 1000:.0f} ms, manifest view "
        f"{result['manifest_count_s'] * 1000:.0f} ms "
        f"({result['manifest_count_s'] / result['rename_count_s']:.2f}x)",
        f"first publish of the manifest catalog ({files:,} files): "
        f"{result['manifest_first_publish_s']:.2f} s",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=3650)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args(argv)
    print(report(run(args.days, args.seconds)))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    main()
