"""`spotify-assets bench WHAT`: the benchmarks of docs/benchmarks.md, each a ratio against a
baseline measured in the same run, or (musicbrainz) quality against the emulator's ground truth.
Benchmark modules are imported only when the command runs, never when Dagster loads `defs/`.
"""

import argparse
from collections.abc import Callable

BENCHMARKS = ["load", "aggregate", "import", "catalog", "musicbrainz", "polling"]
# The MusicBrainz world of the published numbers: its plays touch 2,424 distinct tracks
# (issue 7 asks for >= 2,000).
MB_SEED, MB_TRACKS, MB_ARTISTS, MB_DAYS, MB_MAX_ENTITIES = 7, 4000, 150, 365, 500
# The polling world of the published numbers (issue 19): 50 bursty listeners, 30 days.
POLL_SEED, POLL_USERS, POLL_DAYS = 42, 50, 30


def add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the benchmarks (all optional, each used by the benchmark that needs it)."""
    parser.add_argument("--rows", type=int, help="rows for aggregate/import (default 1,000,000)")
    group = parser.add_argument_group("musicbrainz")
    group.add_argument("--seed", type=int, default=MB_SEED, help="world seed")
    group.add_argument("--tracks", type=int, default=MB_TRACKS, help="tracks in the world")
    group.add_argument("--artists", type=int, default=MB_ARTISTS, help="artists in the world")
    group.add_argument("--days", type=int, default=MB_DAYS, help="days of listening history")
    group.add_argument(
        "--max-entities",
        type=int,
        default=MB_MAX_ENTITIES,
        help="entities per enrichment run (as in the sensor's runs)",
    )
    polling = parser.add_argument_group("polling")
    polling.add_argument("--users", type=int, default=POLL_USERS, help="bursty listeners")
    polling.add_argument("--poll-days", type=int, default=POLL_DAYS, help="days simulated")
    polling.add_argument("--poll-seed", type=int, default=POLL_SEED, help="world seed")


def run_musicbrainz(args: argparse.Namespace) -> None:
    from spotify_assets.bench import musicbrainz as bench

    result = bench.run_bench(
        seed=args.seed,
        n_tracks=args.tracks,
        n_artists=args.artists,
        days=args.days,
        max_entities=args.max_entities,
    )
    print(bench.render(result, args.max_entities))


def run_polling(args: argparse.Namespace) -> None:
    from spotify_assets.bench import polling as bench

    result = bench.run(users=args.users, days=args.poll_days, seed=args.poll_seed)
    print(bench.report(result))


def _cmd_bench(args: argparse.Namespace) -> int:
    from spotify_assets.lib.progress import Progress, terminal_progress

    chosen = BENCHMARKS if args.what == "all" else [args.what]
    # A bar over the benchmarks (and the steps of those that have several): some run for
    # minutes, and their reports only print at their end.
    progress = Progress(
        f"bench {args.what}", unit="benchmark(s)", total=len(chosen), show_rate=False
    )
    with terminal_progress(progress):
        for index, what in enumerate(chosen):
            progress.update(done=float(index), stage=what)
            _run_one(what, args, lambda step, w=what: progress.update(stage=f"{w}: {step}"))
        progress.update(done=float(len(chosen)), stage="done")
    return 0


def _run_one(what: str, args: argparse.Namespace, on_step: Callable[[str], None]) -> None:
    if what == "load":
        from spotify_assets.bench import load

        print(load.report(load.run()))
    elif what == "aggregate":
        from spotify_assets.bench import aggregate

        print(aggregate.report(aggregate.run(rows=args.rows or 1_000_000)))
    elif what == "import":
        from spotify_assets.bench import imports

        print(imports.report(imports.run(rows=args.rows or 1_000_000, on_step=on_step)))
    elif what == "catalog":
        from spotify_assets.bench import catalog

        print(catalog.report(catalog.run()))
    elif what == "musicbrainz":
        run_musicbrainz(args)
    elif what == "polling":
        run_polling(args)


def add_subcommands(sub: argparse._SubParsersAction) -> None:
    bench = sub.add_parser("bench", help="run a benchmark (docs/benchmarks.md)")
    bench.add_argument("what", choices=[*BENCHMARKS, "all"])
    add_bench_arguments(bench)
    bench.set_defaults(func=_cmd_bench)
