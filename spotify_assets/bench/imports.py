"""Benchmark: import N extended-history rows and rebuild `plays` + `daily_listening` for them,
as a ratio to a bare DuckDB `read_json` + `GROUP BY` over the same file, in the same run.

Each side runs in its own subprocess so its peak RSS is its own. The pipeline side is the real
thing: the file dropped into the inbox, the `export_import` run (hash, raw landing, parse,
lake), then one run materializing `plays` and `daily_listening` over the range of days the file
touches (single-run backfill policy, as the plays sensor launches it).

A second baseline, also measured in the same run: Dagster's own bookkeeping for the same run
shape, i.e. the same two runs with assets that do nothing, over the same partitions, on the same
kind of instance. A range run records a planned and a materialization event per partition per
asset, whatever the asset does; this floor is what Dagster costs before any of our code runs.
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
from collections.abc import Iterator
from pathlib import Path

BASELINE_SQL = """
select cast(ts as date) as day, count(*) as plays, sum(ms_played) / 60000.0 as minutes
from read_json(?, format = 'array')
where ms_played >= 30000 and spotify_track_uri is not null
group by day
"""
SIDES = ("baseline", "pipeline", "floor", "pipeline-memory", "floor-memory")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_baseline(file: Path) -> dict:
    import duckdb

    start = time.perf_counter()
    con = duckdb.connect()
    days = con.execute(BASELINE_SQL, [str(file)]).fetchall()
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "days": len(days), "peak_rss_mb": _peak_rss_mb()}


@contextlib.contextmanager
def _instance(storage: str) -> Iterator[object]:
    import dagster as dg

    if storage == "sqlite":  # what `dagster dev` keeps: SQLite files in a DAGSTER_HOME
        with dg.instance_for_test() as instance:
            yield instance
    else:
        yield dg.DagsterInstance.ephemeral()


def _range_tags(days: list[str]) -> dict[str, str]:
    from spotify_assets.lib.orchestrate import RANGE_END_TAG, RANGE_START_TAG

    return {RANGE_START_TAG: days[0], RANGE_END_TAG: days[-1]}


def measure_pipeline(file: Path, data_dir: Path, storage: str = "sqlite") -> dict:
    import dagster as dg

    from spotify_assets.defs.listening.imports import export_import
    from spotify_assets.defs.listening.plays import plays
    from spotify_assets.defs.listening.stats import daily_listening
    from spotify_assets.defs.resources import build_resources
    from spotify_assets.lib.orchestrate import QUIET
    from spotify_assets.lib.settings import load_settings

    settings = load_settings(data_dir=data_dir)
    inbox = settings.inbox_dir / "bench_user"
    inbox.mkdir(parents=True)
    shutil.copyfile(file, inbox / file.name)
    resources = build_resources(settings)
    stages = {}
    with _instance(storage) as instance:
        start = time.perf_counter()
        result = dg.materialize(
            [export_import], resources=resources, instance=instance, run_config=QUIET
        )
        stages["import"] = time.perf_counter() - start
        changed = result.asset_materializations_for_node("export_import")[0].metadata
        days = sorted(changed["changed_days"].value)
        begin = time.perf_counter()
        dg.materialize(
            [plays, daily_listening],
            resources=resources,
            instance=instance,
            run_config=QUIET,
            tags=_range_tags(days),
        )
        stages["plays + daily_listening"] = time.perf_counter() - begin
    return {
        "seconds": sum(stages.values()),
        "stages": stages,
        "days": len(days),
        "first_day": days[0],
        "last_day": days[-1],
        "peak_rss_mb": _peak_rss_mb(),
    }


def measure_floor(first_day: str, last_day: str, storage: str = "sqlite") -> dict:
    """The same two runs with assets that do nothing: Dagster's cost of the run shape."""
    import dagster as dg

    from spotify_assets.defs.partitions import daily
    from spotify_assets.lib.orchestrate import QUIET

    keys = daily.get_partition_keys()
    span = keys[keys.index(first_day) : keys.index(last_day) + 1]

    @dg.multi_asset(specs=[dg.AssetSpec("exported_plays"), dg.AssetSpec("import_reports")])
    def export_import():
        yield dg.MaterializeResult(asset_key="exported_plays", metadata={"changed_days": span})
        yield dg.MaterializeResult(asset_key="import_reports", metadata={"files": 1})

    def noop(name: str, deps: list[str]) -> dg.AssetsDefinition:
        @dg.asset(
            name=name,
            deps=deps,
            partitions_def=daily,
            backfill_policy=dg.BackfillPolicy.single_run(),
        )
        def _noop(context):  # untyped: this module's annotations are strings (see top)
            return dg.MaterializeResult(metadata={"dagster/row_count": 0, "days": len(span)})

        return _noop

    assets = [noop("plays", ["exported_plays"]), noop("daily_listening", ["plays"])]
    stages = {}
    with _instance(storage) as instance:
        start = time.perf_counter()
        dg.materialize([export_import], instance=instance, run_config=QUIET)
        stages["import"] = time.perf_counter() - start
        begin = time.perf_counter()
        dg.materialize(assets, instance=instance, run_config=QUIET, tags=_range_tags(span))
        stages["plays + daily_listening"] = time.perf_counter() - begin
    return {"seconds": sum(stages.values()), "stages": stages, "days": len(span)}


def _child(kind: str, *args: str) -> dict:
    command = [sys.executable, "-m", __spec__.name if __spec__ else "spotify_assets.bench.imports",
               "--measure", kind, *args]  # fmt: skip
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def run(rows: int, workdir: Path | None = None) -> dict:
    from spotify_assets.lib.exports.bench import write_extended_file

    workdir = Path(workdir or tempfile.mkdtemp(prefix="spotify_assets_bench_"))
    file = workdir / f"Streaming_History_Audio_bench_{rows}.json"
    if not file.exists():
        write_extended_file(file, rows)
    result: dict = {"rows": rows, "file_mb": file.stat().st_size / 1024**2}
    result["baseline"] = _child("baseline", "--file", str(file))
    data_dir = workdir / "data"
    for storage in ("", "-memory"):
        shutil.rmtree(data_dir, ignore_errors=True)
        pipeline = _child(f"pipeline{storage}", "--file", str(file), "--data", str(data_dir))
        floor = _child(
            f"floor{storage}", "--first-day", pipeline["first_day"], "--last-day",
            pipeline["last_day"],
        )  # fmt: skip
        result[f"pipeline{storage}"], result[f"floor{storage}"] = pipeline, floor
    shutil.rmtree(data_dir, ignore_errors=True)
    return result


def _stages(side: dict) -> str:
    return ", ".join(f"{k} {v:.1f} s" for k, v in side["stages"].items())


def report(result: dict) -> str:
    base = result["baseline"]["seconds"]
    lines = [
        f"rows: {result['rows']:,} ({result['file_mb']:.0f} MB extended JSON), "
        f"days: {result['pipeline']['days']}",
        f"baseline (duckdb read_json + group by): {base:.2f} s, "
        f"peak RSS {result['baseline']['peak_rss_mb']:.0f} MB",
    ]
    for storage, label in (("", "SQLite instance, as `dagster dev`"), ("-memory", "in-memory")):
        p, f = result[f"pipeline{storage}"], result[f"floor{storage}"]
        ours = p["seconds"] - f["seconds"]
        lines += [
            f"[{label}] pipeline: {p['seconds']:.2f} s ({_stages(p)}), "
            f"peak RSS {p['peak_rss_mb']:.0f} MB; ratio {p['seconds'] / base:.1f}x",
            f"[{label}] Dagster floor, no-op assets, same runs and partitions: "
            f"{f['seconds']:.2f} s ({_stages(f)}); ratio {f['seconds'] / base:.1f}x",
            f"[{label}] pipeline minus floor: {ours:.2f} s; ratio {ours / base:.1f}x",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--measure", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--first-day", help=argparse.SUPPRESS)
    parser.add_argument("--last-day", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    storage = "memory" if args.measure and args.measure.endswith("-memory") else "sqlite"
    if args.measure == "baseline":
        print(json.dumps(measure_baseline(args.file)))
    elif args.measure and args.measure.startswith("pipeline"):
        print(json.dumps(measure_pipeline(args.file, args.data, storage)))
    elif args.measure and args.measure.startswith("floor"):
        print(json.dumps(measure_floor(args.first_day, args.last_day, storage)))
    else:
        print(report(run(args.rows, args.workdir)))


if __name__ == "__main__":
    main()
