"""`spotify-assets bench musicbrainz`: the enrichment benchmark (spotify_assets/bench/) from the
CLI. The benchmark module holds the emulator's ground truth, so it is imported only when the
command runs, never when Dagster loads `defs/`.

`bench` is one command for every benchmark. When `spotify_assets/bench/commands.py` exists it
owns the `bench` parser and dispatches `musicbrainz` here (`add_bench_arguments`, `run`);
otherwise this module registers `bench musicbrainz` itself.
"""

import argparse
import importlib.util

# The world of the published numbers: its plays touch 2,424 distinct tracks (issue 7: >= 2,000).
DEFAULT_SEED = 7
DEFAULT_TRACKS = 4000
DEFAULT_ARTISTS = 150
DEFAULT_DAYS = 365
DEFAULT_MAX_ENTITIES = 500
SHARED_BENCH_MODULE = "spotify_assets.bench.commands"


def add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `bench musicbrainz` (all optional, so other benchmarks can share them)."""
    group = parser.add_argument_group("musicbrainz")
    group.add_argument("--seed", type=int, default=DEFAULT_SEED, help="world seed")
    group.add_argument("--tracks", type=int, default=DEFAULT_TRACKS, help="tracks in the world")
    group.add_argument("--artists", type=int, default=DEFAULT_ARTISTS, help="artists in the world")
    group.add_argument("--days", type=int, default=DEFAULT_DAYS, help="days of listening history")
    group.add_argument("--max-entities", type=int, default=DEFAULT_MAX_ENTITIES,
                       help="entities per enrichment run (as in the sensor's runs)")


def run(args: argparse.Namespace) -> int:
    """Run the benchmark with the parsed options and print its report."""
    from spotify_assets.bench import musicbrainz as bench

    result = bench.run_bench(seed=args.seed, n_tracks=args.tracks, n_artists=args.artists,
                             days=args.days, max_entities=args.max_entities)
    print(bench.render(result, args.max_entities))
    return 0


def add_subcommands(sub: argparse._SubParsersAction) -> None:
    if importlib.util.find_spec(SHARED_BENCH_MODULE) is not None:
        return  # that module registers `bench` (two parsers of one name would conflict)
    command = sub.add_parser(
        "bench", help="benchmarks against the emulator (musicbrainz: precision/recall, requests)"
    )
    command.add_argument("what", choices=["musicbrainz"], help="which benchmark")
    add_bench_arguments(command)
    command.set_defaults(func=run)
