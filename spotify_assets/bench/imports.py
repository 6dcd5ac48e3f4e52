"""Benchmark: import N extended-history rows and rebuild `plays` + `daily_listening` for them,
as a ratio to a bare DuckDB `read_json` + `GROUP BY` over the same file, in the same run.

Each side runs in its own subprocess so its peak RSS is its own. The pipeline side is the real
thing: the file dropped into the inbox, `export_import` (hash, raw landing, parse, lake), then
one single-run range materialization of `plays` and `daily_listening` over every day the file
touches, with an ephemeral Dagster instance.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASELINE_SQL = """
select cast(ts as date) as day, count(*) as plays, sum(ms_played) / 60000.0 as minutes
from read_json(?, format = 'array')
where ms_played >= 30000 and spotify_track_uri is not null
group by day
"""


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_baseline(file: Path) -> dict:
    import duckdb

    start = time.perf_counter()
    con = duckdb.connect()
    days = con.execute(BASELINE_SQL, [str(file)]).fetchall()
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "days": len(days), "peak_rss_mb": _peak_rss_mb()}


def measure_pipeline(file: Path, data_dir: Path, storage: str = "sqlite") -> dict:
    import dagster as dg

    from spotify_assets.defs.listening.imports import export_import
    from spotify_assets.defs.listening.plays import plays
    from spotify_assets.defs.listening.stats import daily_listening
    from spotify_assets.defs.resources import build_resources
    from spotify_assets.lib.orchestrate import QUIET, RANGE_END_TAG, RANGE_START_TAG
    from spotify_assets.lib.settings import load_settings

    settings = load_settings(data_dir=data_dir)
    inbox = settings.inbox_dir / "bench_user"
    inbox.mkdir(parents=True)
    shutil.copyfile(file, inbox / file.name)
    resources = build_resources(settings)
    stages = {}
    instance_cm = (
        dg.instance_for_test()
        if storage == "sqlite"
        else contextlib.nullcontext(dg.DagsterInstance.ephemeral())
    )
    with instance_cm as instance:
        start = time.perf_counter()
        result = dg.materialize(
            [export_import], resources=resources, instance=instance, run_config=QUIET
        )
        stages["import"] = time.perf_counter() - start
        changed = result.asset_materializations_for_node("export_import")[0].metadata
        days = sorted(changed["changed_days"].value)
        for name, asset in (("plays", plays), ("daily_listening", daily_listening)):
            begin = time.perf_counter()
            dg.materialize(
                [plays, daily_listening],
                selection=[asset],
                resources=resources,
                instance=instance,
                run_config=QUIET,
                tags={RANGE_START_TAG: days[0], RANGE_END_TAG: days[-1]},
            )
            stages[name] = time.perf_counter() - begin
    return {
        "seconds": sum(stages.values()),
        "stages": stages,
        "days": len(days),
        "peak_rss_mb": _peak_rss_mb(),
    }


def _child(kind: str, file: Path, data_dir: Path) -> dict:
    command = [sys.executable, "-m", __spec__.name if __spec__ else "spotify_assets.bench.imports",
               "--measure", kind, "--file", str(file), "--data", str(data_dir)]  # fmt: skip
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def run(rows: int, workdir: Path | None = None) -> dict:
    from spotify_assets.lib.exports.bench import write_extended_file

    workdir = Path(workdir or tempfile.mkdtemp(prefix="spotify_assets_bench_"))
    file = workdir / f"Streaming_History_Audio_bench_{rows}.json"
    if not file.exists():
        write_extended_file(file, rows)
    baseline = _child("baseline", file, workdir / "unused")
    data_dir = workdir / "data"
    if data_dir.exists():
        shutil.rmtree(data_dir)
    pipeline = _child("pipeline", file, data_dir)
    shutil.rmtree(data_dir)
    memory = _child("pipeline-memory", file, data_dir)
    return {
        "rows": rows,
        "file_mb": file.stat().st_size / 1024**2,
        "baseline": baseline,
        "pipeline": pipeline,
        "pipeline_memory": memory,
        "ratio": pipeline["seconds"] / baseline["seconds"],
        "ratio_memory": memory["seconds"] / baseline["seconds"],
    }


def report(result: dict) -> str:
    b, p = result["baseline"], result["pipeline"]
    stages = ", ".join(f"{k} {v:.1f} s" for k, v in p["stages"].items())
    m = result["pipeline_memory"]
    mstages = ", ".join(f"{k} {v:.1f} s" for k, v in m["stages"].items())
    return "\n".join(
        [
            f"rows: {result['rows']:,} ({result['file_mb']:.0f} MB extended JSON), "
            f"days: {p['days']}",
            f"baseline (duckdb read_json + group by): {b['seconds']:.2f} s, "
            f"peak RSS {b['peak_rss_mb']:.0f} MB",
            f"pipeline (import + plays + daily_listening): {p['seconds']:.2f} s ({stages}), "
            f"peak RSS {p['peak_rss_mb']:.0f} MB",
            f"ratio pipeline / baseline: {result['ratio']:.1f}x (Dagster event log in SQLite, as "
            "`dagster dev` keeps it)",
            f"same with an in-memory Dagster instance: {m['seconds']:.2f} s ({mstages}), "
            f"ratio {result['ratio_memory']:.1f}x",
        ]
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument(
        "--measure", choices=("baseline", "pipeline", "pipeline-memory"), help=argparse.SUPPRESS
    )
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure == "baseline":
        print(json.dumps(measure_baseline(args.file)))
    elif args.measure in ("pipeline", "pipeline-memory"):
        storage = "memory" if args.measure == "pipeline-memory" else "sqlite"
        print(json.dumps(measure_pipeline(args.file, args.data, storage)))
    else:
        print(report(run(args.rows, args.workdir)))


if __name__ == "__main__":
    main()
