"""`spotify-assets bench musicbrainz`: the enrichment benchmark (spotify_assets/bench/) from the
CLI. The benchmark module holds the emulator's ground truth, so it is imported only when the
command runs, never when Dagster loads `defs/`."""

import argparse

BENCHMARKS = ("musicbrainz",)
# The world of the published numbers: its plays touch 2,424 distinct tracks (issue 7: >= 2,000).
DEFAULT_SEED = 7
DEFAULT_TRACKS = 4000
DEFAULT_ARTISTS = 150
DEFAULT_DAYS = 365
DEFAULT_MAX_ENTITIES = 500


def _cmd_bench(args: argparse.Namespace) -> int:
    from spotify_assets.bench import musicbrainz as bench

    result = bench.run_bench(seed=args.seed, n_tracks=args.tracks, n_artists=args.artists,
                             days=args.days, max_entities=args.max_entities)
    print(bench.render(result, args.max_entities))
    return 0


def add_subcommands(sub: argparse._SubParsersAction) -> None:
    command = sub.add_parser(
        "bench",
        help="benchmarks against the emulator (musicbrainz: match precision/recall, requests)",
    )
    command.add_argument("what", choices=BENCHMARKS, help="which benchmark")
    command.add_argument("--seed", type=int, default=DEFAULT_SEED, help="world seed")
    command.add_argument("--tracks", type=int, default=DEFAULT_TRACKS, help="tracks in the world")
    command.add_argument("--artists", type=int, default=DEFAULT_ARTISTS,
                         help="artists in the world")
    command.add_argument("--days", type=int, default=DEFAULT_DAYS,
                         help="days of listening history")
    command.add_argument("--max-entities", type=int, default=DEFAULT_MAX_ENTITIES,
                         help="entities per enrichment run (as in the sensor's runs)")
    command.set_defaults(func=_cmd_bench)
