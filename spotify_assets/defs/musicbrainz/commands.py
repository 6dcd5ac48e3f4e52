"""`spotify-assets bench musicbrainz`: the enrichment benchmark (bench.py) from the CLI."""

import argparse

BENCHMARKS = ("musicbrainz",)


def _cmd_bench(args: argparse.Namespace) -> int:
    from spotify_assets.defs.musicbrainz import bench

    result = bench.run_bench(seed=args.seed, n_tracks=args.tracks, n_artists=args.artists,
                             days=args.days, max_entities=args.max_entities)
    print(bench.render(result, args.max_entities))
    return 0


def add_subcommands(sub: argparse._SubParsersAction) -> None:
    from spotify_assets.defs.musicbrainz import bench

    command = sub.add_parser(
        "bench",
        help="benchmarks against the emulator (musicbrainz: match precision/recall, requests)",
    )
    command.add_argument("what", choices=BENCHMARKS, help="which benchmark")
    command.add_argument("--seed", type=int, default=bench.DEFAULT_SEED)
    command.add_argument("--tracks", type=int, default=bench.DEFAULT_TRACKS,
                         help="tracks in the world")
    command.add_argument("--artists", type=int, default=bench.DEFAULT_ARTISTS,
                         help="artists in the world")
    command.add_argument("--days", type=int, default=bench.DEFAULT_DAYS,
                         help="days of listening history")
    command.add_argument("--max-entities", type=int, default=500,
                         help="entities per enrichment run (as the sensor's runs)")
    command.set_defaults(func=_cmd_bench)
