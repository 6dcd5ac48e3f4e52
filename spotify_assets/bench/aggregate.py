"""Benchmark: our `daily_listening` SQL (per local day, top track and artist) vs a bare DuckDB
GROUP BY over the same `plays` files, in the same process. Builds a lake of N synthetic plays."""

import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa

from spotify_assets.defs.listening.stats import SQL_DIR
from spotify_assets.defs.listening.tables import PLAYS
from spotify_assets.lib.lake import Lake

BARE = """
select user_id, cast(started_at as date) as day, sum(listened_ms) / 60000.0 as minutes,
       count(*) as plays
from plays group by all
"""


def build_lake(root: Path, rows: int, users: int = 50) -> list[Path]:
    """`rows` plays spread over `users` users and a year, one file per UTC day as the asset."""
    import numpy as np

    rng = np.random.default_rng(7)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    seconds = np.sort(rng.integers(0, 365 * 86400, rows))
    listened = rng.integers(30_000, 300_000, rows)
    started = [start + timedelta(seconds=int(s)) for s in seconds]
    user = rng.integers(0, users, rows)
    track = rng.integers(0, 5000, rows)
    columns = {
        "user_id": [f"user{u}" for u in user],
        "play_id": [f"p{i}" for i in range(rows)],
        "day": [s.date() for s in started],
        "started_at": started,
        "ended_at": [
            s + timedelta(milliseconds=int(m)) for s, m in zip(started, listened, strict=True)
        ],
        "ended_at_precision": ["s"] * rows,
        "ms_played": listened,
        "listened_ms": listened,
        "listened_ms_estimated": [False] * rows,
        "track_id": [f"t{t}" for t in track],
        "track_key": [f"artist {t % 700}\ttrack {t}" for t in track],
        "track_name": [f"track {t}" for t in track],
        "artist_name": [f"artist {t % 700}" for t in track],
        "sources": [["export_extended"]] * rows,
    }
    # Columns the aggregation does not read stay null.
    table = pa.table({c.name: columns.get(c.name, pa.nulls(rows, c.type)) for c in PLAYS.columns})
    lake = Lake(root)
    days = sorted({d.isoformat() for d in table.column("day").to_pylist()})
    lake.write_partitions(PLAYS, table, "day", days)
    return list(lake.files("plays"))


def _time(con: duckdb.DuckDBPyConnection, sql: str, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        con.sql(sql).fetchall()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run(rows: int = 1_000_000, repeat: int = 5) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        files = build_lake(Path(tmp), rows)
        con = duckdb.connect()
        listing = ", ".join(f"'{f}'" for f in files)
        con.execute(f"create view plays as select * from read_parquet([{listing}])")
        users = sorted({r[0] for r in con.sql("select distinct user_id from plays").fetchall()})
        zones = ["UTC", "Asia/Tokyo", "America/New_York", "Europe/Berlin"]
        con.register(
            "timezones",
            pa.table(
                {
                    "user_id": users,
                    "tz": [zones[i % len(zones)] for i in range(len(users))],
                }
            ),
        )
        con.register(
            "params",
            pa.table(
                {
                    "first_day": [datetime(2025, 1, 1).date()],
                    "end_day": [datetime(2026, 1, 1).date()],
                    "default_tz": ["UTC"],
                }
            ),
        )
        ours = _time(con, (SQL_DIR / "daily_listening.sql").read_text(), repeat)
        bare = _time(con, BARE, repeat)
        con.close()
    return {"rows": rows, "files": len(files), "ours_s": ours, "bare_s": bare, "ratio": ours / bare}


def report(result: dict) -> str:
    return (
        f"daily_listening SQL over {result['rows']:,} plays in {result['files']} day files: "
        f"{result['ours_s']:.2f} s; bare GROUP BY user, day: {result['bare_s']:.2f} s; "
        f"ratio {result['ratio']:.1f}x"
    )
