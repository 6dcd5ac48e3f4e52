"""Benchmark: import N extended-history rows and refresh the history tables for them, as
ratios to a bare DuckDB `read_json` + `GROUP BY` over the same files, in the same run.

Two layouts of the same rows: one big file, and the layout Spotify mails (a zip of ~12 MB
`Streaming_History_Audio_*.json` files). Each side runs in its own subprocess, so each peak RSS
is its own:
- **baseline**: DuckDB reads the JSON files and groups plays by day (the median of 3 runs
  before the pipeline and 3 after it);
- **pipeline** (SQLite instance, as `dagster dev`): the import run (hash, raw landing, parse,
  lake), then the refresh the stale-days sensor requests, split so each figure can be read:
  `plays` + `daily_listening` (issue 6's pipeline), the other history tables, then the heatmap
  and today's tops (the whole refresh a user waits for). Dagster event-log rows are counted;
- **floor**: the same runs with assets that do nothing, over the same month partitions
  (median of 3); and
  the daily grain's event count for the same two assets (what the history tables cost in
  Dagster's event log before they had month partitions);
- **poll**: after the import, a poll's refresh (a few plays on the last day), through the same
  stale-days request, against the same refresh at the daily grain it replaced (the same asset
  code, partitioned by day, over the days it rewrites): time and day files rewritten.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

LAYOUTS = ("file", "zip")
BASELINE_SQL = """
select cast(ts as date) as day, count(*) as plays, sum(ms_played) / 60000.0 as minutes
from read_json(?, format = 'array')
where ms_played >= 30000 and spotify_track_uri is not null
group by day
"""
USER = "bench_user"
# The baseline (before and again after the pipeline) and the Dagster floor are medians of this
# many runs each: on a shared machine a single one moved by 15-30% between runs.
REPEATS = 3


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_inputs(workdir: Path, rows: int) -> dict[str, Path]:
    """The rows in both layouts (written once per workdir): {"file": json, "zip": zip}."""
    from spotify_assets.lib.exports.bench import write_extended_file, write_spotify_layout

    big = workdir / f"Streaming_History_Audio_bench_{rows}.json"
    archive = workdir / f"my_spotify_data_{rows}.zip"
    if not big.exists():
        write_extended_file(big, rows)
    if not archive.exists():
        write_spotify_layout(archive, rows)
    return {"file": big, "zip": archive}


def measure_baseline(source: Path) -> dict:
    """DuckDB over the JSON itself: the big file, or the zip's files extracted beside it."""
    import zipfile

    import duckdb

    if source.suffix == ".zip":
        folder = source.with_suffix("")
        if not folder.exists():
            with zipfile.ZipFile(source) as archive:
                archive.extractall(folder)
        files = sorted(str(p) for p in folder.rglob("*.json"))
    else:
        files = [str(source)]
    runs = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        days = duckdb.connect().execute(BASELINE_SQL, [files]).fetchall()
        runs.append(time.perf_counter() - start)
    return {
        "seconds": statistics.median(runs),
        "runs": runs,
        "days": len(days),
        "peak_rss_mb": _peak_rss_mb(),
    }


@contextlib.contextmanager
def _sqlite_instance() -> Iterator[object]:
    import dagster as dg

    with dg.instance_for_test() as instance:  # SQLite files in a DAGSTER_HOME, as `dagster dev`
        yield instance


def _events(instance, run_ids: list[str]) -> int:
    return sum(len(instance.all_logs(run_id)) for run_id in run_ids)


def _settings(data_dir: Path):
    from spotify_assets.lib.settings import load_settings
    from spotify_assets.lib.users.registry import UserRegistry

    settings = load_settings(data_dir=data_dir)
    UserRegistry(settings).enroll(USER, "Bench", "bench-token", timezone="Europe/Berlin")
    return settings


def measure_pipeline(source: Path, data_dir: Path) -> dict:
    import dagster as dg

    from spotify_assets.definitions import defs
    from spotify_assets.defs.listening.history import HISTORY_ASSETS
    from spotify_assets.defs.listening.sensors import refresh_requests, settle
    from spotify_assets.defs.resources import build_resources
    from spotify_assets.lib.orchestrate import QUIET

    settings = _settings(data_dir)
    inbox = settings.inbox_dir / USER
    inbox.mkdir(parents=True)
    shutil.copyfile(source, inbox / source.name)
    resources = build_resources(settings)
    manifest = resources["warehouse"].lake.manifest
    by_name = _assets_by_name(defs())
    stages: dict[str, float] = {}
    stages_cpu: dict[str, float] = {}
    runs: list[str] = []

    def timed(stage: str, selection: list[str], **kwargs) -> dg.ExecuteInProcessResult:
        # Only the assets of the run (the rest are sources to it), as a sensor's job would.
        assets = list({id(by_name[n]): by_name[n] for n in selection}.values())
        begin, cpu = time.perf_counter(), time.process_time()
        result = dg.materialize(
            assets, resources=resources, instance=instance, run_config=QUIET, **kwargs
        )
        stages[stage] = stages.get(stage, 0.0) + time.perf_counter() - begin
        # Every thread's CPU, the kernel's share included: what a busy machine inflates less
        # than wall time.
        stages_cpu[stage] = stages_cpu.get(stage, 0.0) + time.process_time() - cpu
        runs.append(result.run_id)
        return result

    with _sqlite_instance() as instance:
        timed("import", ["exported_plays", "import_reports", "import_rejects"])
        import_events = _events(instance, runs)
        requests, _ = refresh_requests(instance, manifest, datetime.now(UTC))
        months = [(r.tags["dagster/asset_partition_range_start"],
                   r.tags["dagster/asset_partition_range_end"]) for r in requests]  # fmt: skip
        for request in requests:
            timed("plays + daily_listening", ["plays", "daily_listening"], tags=request.tags)
        plays_events = _events(instance, runs) - import_events
        rest = [a for a in HISTORY_ASSETS if a not in ("plays", "daily_listening")]
        for request in requests:
            result = timed("other history tables", rest, tags=request.tags)
            settle(result.dagster_run, manifest)
        timed("heatmap", ["listening_heatmap"])
        timed("tops", ["tops_from_plays"], partition_key=_last_play_day(resources["warehouse"]))
        events = _events(instance, runs)
        poll = measure_poll(instance, resources, by_name)
    return {
        "seconds_issue6": stages["import"] + stages["plays + daily_listening"],
        "seconds_whole": sum(stages.values()),
        "stages": stages,
        "stages_cpu": stages_cpu,
        "months": months,
        "events_issue6": import_events + plays_events,
        "events_whole": events,
        "poll": poll,
        "peak_rss_mb": _peak_rss_mb(),
    }


def _last_play_day(warehouse) -> str:
    from spotify_assets.defs.listening.tables import PLAYS

    return max(warehouse.partitions(PLAYS))


def _assets_by_name(definitions) -> dict:
    return {
        key.to_user_string(): asset
        for asset in definitions.assets
        if isinstance(asset, __import__("dagster").AssetsDefinition)
        for key in asset.keys
    }


def measure_poll(instance, resources, by_name: dict) -> dict:
    """A poll's refresh (3 plays on the last day of history) now, and at the daily grain."""
    import dagster as dg

    from spotify_assets.defs.listening.history import HISTORY_ASSETS, days_in
    from spotify_assets.defs.listening.sensors import refresh_requests, settle
    from spotify_assets.defs.listening.tables import POLLED_PLAYS
    from spotify_assets.defs.partitions import daily
    from spotify_assets.lib.orchestrate import QUIET, RANGE_END_TAG, RANGE_START_TAG

    warehouse = resources["warehouse"]
    day = datetime.fromisoformat(_last_play_day(warehouse)).replace(tzinfo=UTC)
    rows = [
        {"user_id": USER, "played_at": day + timedelta(hours=23, minutes=i * 5),
         "track_id": f"polled{i}", "track_uri": f"spotify:track:polled{i}",
         "track_name": f"Polled {i}", "artist_names": ["Polled Artist"], "artist_ids": [],
         "album_id": None, "album_name": None, "album_type": None, "duration_ms": 200_000,
         "isrc": None, "explicit": False, "context_type": None, "context_uri": None,
         "polled_at": day + timedelta(hours=23, minutes=30)}
        for i in range(3)
    ]  # fmt: skip
    history = [by_name[name] for name in HISTORY_ASSETS]
    # The same refresh at the daily grain: the same asset code, partitioned by day, over the
    # days the stale request rewrites (the poll's day +/- 1).
    window = dg.TimeWindow(day - timedelta(days=1), day + timedelta(days=2))
    keys = set(daily.get_partition_keys())
    span = [d.isoformat() for d in days_in(window) if d.isoformat() in keys]
    daily_assets = [_daily_variant(a) for a in history]
    now, before, rewritten = [], [], 0
    key, stale = f"{USER}/{day.date().isoformat()}", {"listening": [day.date().isoformat()]}
    for attempt in range(2):  # alternated, each twice: neither side gets the warm caches alone
        # A poll that changed the day, before each side: both publish new day files.
        rows[0]["track_name"] = f"Polled {attempt}"
        warehouse.write(POLLED_PLAYS, rows, key, stale=stale)
        requests, _ = refresh_requests(instance, warehouse.lake.manifest, datetime.now(UTC))
        begin = time.perf_counter()
        for request in requests:
            result = dg.materialize(
                history, resources=resources, instance=instance, run_config=QUIET,
                tags=request.tags,
            )  # fmt: skip
            settle(result.dagster_run, warehouse.lake.manifest)
            rewritten = sum(
                e.metadata["days_rewritten"].value
                for name in HISTORY_ASSETS
                for e in result.asset_materializations_for_node(name)
            )
        now.append(time.perf_counter() - begin)
        rows[0]["track_name"] = f"Polled {attempt} again"
        warehouse.write(POLLED_PLAYS, rows, key, stale=stale)
        begin = time.perf_counter()
        dg.materialize(
            daily_assets,
            resources=resources,
            instance=instance,
            run_config=QUIET,
            tags={RANGE_START_TAG: span[0], RANGE_END_TAG: span[-1]},
        )
        before.append(time.perf_counter() - begin)
    return {"seconds": min(now), "day_files_rewritten": rewritten,
            "seconds_daily_grain": min(before), "daily_grain_days": len(span)}  # fmt: skip


def _name(asset) -> str | None:
    keys = getattr(asset, "keys", None)
    return next(iter(keys)).to_user_string() if keys and len(keys) == 1 else None


def _daily_variant(asset):
    """A history asset as it was partitioned until 2026-12: by day (the same code)."""
    import dagster as dg

    from spotify_assets.defs.partitions import daily

    name = _name(asset)
    spec = next(iter(asset.specs))
    return dg.asset(
        name=name,
        partitions_def=daily,
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=[
            dg.AssetDep(d.asset_key)
            for d in spec.deps
            if d.asset_key.to_user_string() in ("plays", "polled_plays", "exported_plays")
        ],
        pool=asset.op.pool,
    )(asset.op.compute_fn.decorated_fn)


def measure_floor(months: list[tuple[str, str]], first_day: str, last_day: str) -> dict:
    """The same run shapes with assets that do nothing, at the month grain; and the events the
    daily grain wrote for the same two assets over the same days."""
    import dagster as dg

    from spotify_assets.defs.partitions import daily, monthly
    from spotify_assets.lib.orchestrate import QUIET, RANGE_END_TAG, RANGE_START_TAG

    @dg.multi_asset(specs=[dg.AssetSpec("exported_plays"), dg.AssetSpec("import_reports")])
    def export_import():
        yield dg.MaterializeResult(asset_key="exported_plays", metadata={"files": 1})
        yield dg.MaterializeResult(asset_key="import_reports", metadata={"files": 1})

    def noop(name: str, deps: list[str], pdef) -> dg.AssetsDefinition:
        @dg.asset(name=name, deps=deps, partitions_def=pdef,
                  backfill_policy=dg.BackfillPolicy.single_run())  # fmt: skip
        def _noop(context):  # untyped: this module's annotations are strings (see top)
            return dg.MaterializeResult(metadata={"dagster/row_count": 0})

        return _noop

    result: dict = {}
    # The month floor is subtracted from the pipeline's time: the median of REPEATS, as the
    # baseline (the daily grain's, 100 s, once).
    for grain, pdef, ranges in (
        *[("month", monthly, months)] * REPEATS,
        ("day", daily, [(first_day, last_day)]),
    ):
        assets = [noop("plays", ["exported_plays"], pdef), noop("daily_listening", ["plays"], pdef)]
        with _sqlite_instance() as instance:
            runs = []
            start = time.perf_counter()
            runs.append(dg.materialize([export_import], instance=instance, run_config=QUIET).run_id)
            for first, last in ranges:
                tags = {RANGE_START_TAG: first, RANGE_END_TAG: last}
                runs.append(
                    dg.materialize(assets, instance=instance, run_config=QUIET, tags=tags).run_id
                )
            seconds = time.perf_counter() - start
            result.setdefault(grain, {"runs": []})["runs"].append(seconds)
            result[grain]["events"] = _events(instance, runs)
    for measured in result.values():
        measured["seconds"] = statistics.median(measured["runs"])
    return result


def _child(kind: str, *args: str) -> dict:
    command = [sys.executable, "-m", __spec__.name if __spec__ else "spotify_assets.bench.imports",
               "--measure", kind, *args]  # fmt: skip
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def run(
    rows: int, workdir: Path | None = None, on_step: Callable[[str], None] | None = None
) -> dict:
    """`on_step` is told each step as it starts (for a progress bar)."""
    step = on_step or (lambda _: None)
    workdir = Path(workdir or tempfile.mkdtemp(prefix="spotify_assets_bench_"))
    workdir.mkdir(parents=True, exist_ok=True)
    step(f"writing {rows:,} rows in both layouts")
    inputs = write_inputs(workdir, rows)
    result: dict = {"rows": rows, "file_mb": inputs["file"].stat().st_size / 1024**2}
    data_dir = workdir / "data"
    for layout in LAYOUTS:
        shutil.rmtree(data_dir, ignore_errors=True)
        step(f"baseline ({layout})")
        before = _child("baseline", "--source", str(inputs[layout]))
        step(f"pipeline ({layout})")
        side = {
            "pipeline": _child("pipeline", "--source", str(inputs[layout]), "--data", str(data_dir))
        }
        # Measured again after the pipeline: the machine's speed drifts within a run (the same
        # refresh took 28% more CPU in one run than in the next), and a denominator taken only
        # before would miss it. The ratios use the median of both sets.
        step(f"baseline again ({layout})")
        after = _child("baseline", "--source", str(inputs[layout]))
        runs = before["runs"] + after["runs"]
        side["baseline"] = {**before, "runs": runs, "seconds": statistics.median(runs),
                            "runs_after": after["runs"]}  # fmt: skip
        result[layout] = side
    shutil.rmtree(data_dir, ignore_errors=True)
    pipeline = result["file"]["pipeline"]
    first = pipeline["months"][0][0]
    last_month = pipeline["months"][-1][1]
    last = (datetime.fromisoformat(last_month) + timedelta(days=32)).replace(day=1)
    step("Dagster floor")
    result["floor"] = _child(
        "floor", "--months", json.dumps(pipeline["months"]), "--first-day", first,
        "--last-day", (last - timedelta(days=1)).date().isoformat(),
    )  # fmt: skip
    return result


def report(result: dict) -> str:
    floor = result["floor"]
    lines = [f"rows: {result['rows']:,} ({result['file_mb']:.0f} MB of extended JSON)"]
    for layout, label in (("file", "one file"), ("zip", "Spotify's layout: a zip of ~12 MB files")):
        base = result[layout]["baseline"]
        p = result[layout]["pipeline"]
        b = base["seconds"]
        stages = ", ".join(f"{k} {v:.1f} s" for k, v in p["stages"].items())
        cpu = ", ".join(f"{k} {v:.1f} s" for k, v in p["stages_cpu"].items())
        ours = p["seconds_issue6"] - floor["month"]["seconds"]
        lines += [
            f"[{label}] baseline (duckdb read_json + group by): {b:.2f} s (median of "
            f"{', '.join(f'{r:.2f}' for r in base['runs'])}; the last "
            f"{len(base['runs_after'])} after the pipeline), "
            f"{base['days']:,} days, peak RSS {base['peak_rss_mb']:.0f} MB",
            f"[{label}] import + plays + daily_listening (issue 6's pipeline): "
            f"{p['seconds_issue6']:.2f} s = {p['seconds_issue6'] / b:.1f}x (target 10x)",
            f"[{label}]   our own work (minus the Dagster floor "
            f"{floor['month']['seconds']:.2f} s, median of "
            f"{', '.join(f'{r:.2f}' for r in floor['month']['runs'])}): "
            f"{ours:.2f} s = {ours / b:.1f}x (target 6x)",
            f"[{label}] the whole refresh a user waits for (every history table, heatmap, tops): "
            f"{p['seconds_whole']:.2f} s = {p['seconds_whole'] / b:.1f}x (target 20x)",
            f"[{label}]   stages: {stages}; month runs: {len(p['months'])}",
            f"[{label}]   process CPU per stage (all threads): {cpu}",
            f"[{label}] peak RSS {p['peak_rss_mb']:.0f} MB (target < 1,536 MB)",
            f"[{label}] Dagster event-log rows: {p['events_issue6']:,} (issue 6's pipeline), "
            f"{p['events_whole']:,} (whole refresh)",
        ]
    p = result["file"]["pipeline"]
    lines += [
        f"daily grain, same two assets over the same days (no-op floor): "
        f"{floor['day']['events']:,} event-log rows, {floor['day']['seconds']:.1f} s; "
        f"month grain: {floor['month']['events']:,} rows "
        f"({floor['day']['events'] / max(p['events_issue6'], 1):.0f}x fewer with the pipeline's "
        f"{p['events_issue6']:,}; target 20x)",
        f"steady state, a poll's refresh (every history table): {p['poll']['seconds']:.2f} s, "
        f"{p['poll']['day_files_rewritten']} day files rewritten; the same at the daily grain "
        f"({p['poll']['daily_grain_days']} day partitions): "
        f"{p['poll']['seconds_daily_grain']:.2f} s = ratio "
        f"{p['poll']['seconds'] / p['poll']['seconds_daily_grain']:.2f}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument(
        "--measure", choices=["baseline", "pipeline", "floor"], help=argparse.SUPPRESS
    )
    parser.add_argument("--source", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--months", help=argparse.SUPPRESS)
    parser.add_argument("--first-day", help=argparse.SUPPRESS)
    parser.add_argument("--last-day", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure == "baseline":
        print(json.dumps(measure_baseline(args.source)))
    elif args.measure == "pipeline":
        print(json.dumps(measure_pipeline(args.source, args.data)))
    elif args.measure == "floor":
        months = [tuple(m) for m in json.loads(args.months)]
        print(json.dumps(measure_floor(months, args.first_day, args.last_day)))
    else:
        print(report(run(args.rows, args.workdir)))


if __name__ == "__main__":
    main()
