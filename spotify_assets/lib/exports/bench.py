"""Benchmark helper: a synthetic extended-history file and a timed, memory-measured parse.

    python -m spotify_assets.lib.exports.bench --rows 1000000 --file /tmp/big.json

writes the file once (deterministic for a seed) and parses it with each engine in its own
subprocess, so each peak RSS (`ru_maxrss`) is that engine's alone. The file mimics the
current extended format (all 23 keys, ~3% podcast rows, a few content-less rows) but its
values are synthetic: it measures throughput, not realism.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_REASONS_START = ("trackdone", "clickrow", "fwdbtn", "backbtn", "playbtn", "appload")
_REASONS_END = ("trackdone", "endplay", "fwdbtn", "backbtn", "logout")


def _uri(rng: random.Random, kind: str) -> str:
    return f"spotify:{kind}:" + "".join(rng.choices(_ALPHABET, k=22))


def _catalog(rng: random.Random, n_tracks: int) -> list[tuple[str, str, str, str]]:
    return [
        (_uri(rng, "track"), f"Track {i}", f"Artist {i % 700}", f"Album {i % 2000}")
        for i in range(n_tracks)
    ]


def _row(rng: random.Random, ended: datetime, tracks: list[tuple[str, str, str, str]]) -> dict:
    ms = rng.choice((rng.randint(0, 29_999), rng.randint(30_000, 320_000)))
    row: dict = {
        "ts": ended.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "platform": rng.choice(("android", "windows", "ios")),
        "ms_played": ms,
        "conn_country": "DE",
        "ip_addr": "192.0.2.1",
        "master_metadata_track_name": None,
        "master_metadata_album_artist_name": None,
        "master_metadata_album_album_name": None,
        "spotify_track_uri": None,
        "episode_name": None,
        "episode_show_name": None,
        "spotify_episode_uri": None,
        "audiobook_title": None,
        "audiobook_uri": None,
        "audiobook_chapter_uri": None,
        "audiobook_chapter_title": None,
        "reason_start": rng.choice(_REASONS_START),
        "reason_end": rng.choice(_REASONS_END),
        "shuffle": rng.random() < 0.4,
        "skipped": ms < 30_000,
        "offline": False,
        "offline_timestamp": int(ended.timestamp()) - ms // 1000,
        "incognito_mode": False,
    }
    roll = rng.random()
    if roll < 0.03:
        row["episode_name"] = f"Episode {rng.randint(1, 500)}"
        row["episode_show_name"] = f"Show {rng.randint(1, 40)}"
        row["spotify_episode_uri"] = _uri(rng, "episode")
    elif roll > 0.999:
        pass  # no content fields at all, as in some legacy rows
    else:
        uri, name, artist, album = rng.choice(tracks)
        row["master_metadata_track_name"] = name
        row["master_metadata_album_artist_name"] = artist
        row["master_metadata_album_album_name"] = album
        row["spotify_track_uri"] = uri
    return row


def write_extended_file(path: Path, rows: int, seed: int = 7, indent: bool = False) -> int:
    """Write `rows` extended-format rows as a JSON array, streaming; returns the byte size."""
    rng = random.Random(seed)
    tracks = _catalog(rng, 20_000)
    ended = datetime(2020, 1, 1, tzinfo=UTC)
    separators = (",", ": ") if indent else (",", ":")
    with open(path, "w", encoding="utf-8") as out:
        out.write("[")
        for i in range(rows):
            ended += timedelta(seconds=rng.randint(20, 400))
            text = json.dumps(_row(rng, ended, tracks), separators=separators)
            out.write(("," if i else "") + ("\n  " if indent else "") + text)
        out.write("\n]\n" if indent else "]")
    return Path(path).stat().st_size


def write_spotify_layout(
    zip_path: Path, rows: int, seed: int = 7, max_bytes: int = 12 * 1024**2
) -> list[str]:
    """The same rows as `write_extended_file` (same seed, same order), laid out the way Spotify
    mails an extended history: a zip of `Spotify Extended Streaming History/
    Streaming_History_Audio_<first year>-<last year>_<n>.json` files of about 12 MB each.
    Returns the member names."""
    import zipfile

    rng = random.Random(seed)
    tracks = _catalog(rng, 20_000)
    ended = datetime(2020, 1, 1, tzinfo=UTC)
    folder = "Spotify Extended Streaming History"
    names: list[str] = []
    chunk: list[str] = []
    size = 0
    years: list[int] = []

    def flush(archive: zipfile.ZipFile) -> None:
        nonlocal chunk, size, years
        if not chunk:
            return
        span = f"{years[0]}" if years[0] == years[-1] else f"{years[0]}-{years[-1]}"
        name = f"{folder}/Streaming_History_Audio_{span}_{len(names)}.json"
        archive.writestr(name, "[" + ",".join(chunk) + "]")
        names.append(name)
        chunk, size, years = [], 0, []

    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for _ in range(rows):
            ended += timedelta(seconds=rng.randint(20, 400))
            text = json.dumps(_row(rng, ended, tracks), separators=(",", ":"))
            chunk.append(text)
            size += len(text) + 1
            if not years or years[-1] != ended.year:
                years.append(ended.year)
            if size >= max_bytes:
                flush(archive)
        flush(archive)
    return names


def _measure(file: Path, engine: str) -> dict:
    from spotify_assets.lib.exports.parse import parse_export_path

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    parsed = parse_export_path("bench_user", file, engine=engine)  # type: ignore[arg-type]
    seconds = time.perf_counter() - start
    rows = parsed.report.rows_read
    return {
        "engine": parsed.engine,
        "rows": rows,
        "seconds": round(seconds, 2),
        "rows_per_s": round(rows / seconds),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "rss_after_imports_mb": round(rss_before / 1024),
        "observations_mb": round(parsed.observations.nbytes / 1024**2),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--file", type=Path, default=Path("/tmp/spotify_assets_bench.json"))
    parser.add_argument("--engine", choices=("ijson", "duckdb"), action="append")
    parser.add_argument("--measure", action="store_true", help="(internal) one engine, here")
    args = parser.parse_args(argv)
    engines = args.engine or ["duckdb", "ijson"]
    if args.measure:
        print(json.dumps(_measure(args.file, engines[0])))
        return
    if not args.file.exists():
        start = time.perf_counter()
        size = write_extended_file(args.file, args.rows)
        print(f"wrote {args.file} ({size / 1024**2:.0f} MB) in {time.perf_counter() - start:.1f}s")
    for engine in engines:
        cmd = [sys.executable, "-m", __spec__.name, "--file", str(args.file), "--engine", engine,
               "--measure"]  # fmt: skip
        print(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip())


if __name__ == "__main__":
    main()
