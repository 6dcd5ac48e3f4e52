"""`spotify-assets bench musicbrainz`: matching quality and requests per entity, measured.

An in-thread emulator serves a world larger than the demo's; the world's track plays are
written to the `plays` lake table as polling leaves them (track, album and artist ids, ISRC);
one demo user logs in (album bodies need a token); then the real assets run (`spotify_albums`,
the enrichment, `genres`) in bounded runs until nothing is due, and the match tables are scored
against the world's ground truth. A second pass must ask nothing.

MusicBrainz's 1 request/s is switched off on both sides (server and client): the benchmark
measures matching quality and requests per entity, not wall time (at 1 request/s, N requests
take about N seconds).

It lives outside `defs/` and `lib/`: it holds the world's ground truth, which pipeline code
never sees (spotify_assets_tests/test_definitions.py checks that no pipeline module imports the
emulator). `spotify_assets/bench/commands.py` imports it only when the command runs.
"""

from __future__ import annotations

import socket
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd

from spotify_assets.defs.listening.tables import PLAYS
from spotify_assets.defs.musicbrainz.albums import spotify_albums
from spotify_assets.defs.musicbrainz.assets import ENRICHMENT_OP, genres, musicbrainz_enrichment
from spotify_assets.defs.musicbrainz.sensors import pending_work
from spotify_assets.defs.musicbrainz.tables import MB_ARTISTS, MB_RECORDINGS, MB_RELEASES
from spotify_assets.defs.resources import Warehouse, build_resources
from spotify_assets.emulator.musicbrainz import mb_state
from spotify_assets.emulator.server import running_emulator
from spotify_assets.emulator.world import World, WorldConfig
from spotify_assets.lib.dedupe import track_key
from spotify_assets.lib.lake import TableSpec
from spotify_assets.lib.musicbrainz.client import MusicBrainzClient
from spotify_assets.lib.orchestrate import QUIET
from spotify_assets.lib.settings import EMULATOR_CLIENT_ID, Settings, load_settings
from spotify_assets.lib.users.login import login
from spotify_assets.lib.users.registry import UserRegistry

MAX_RUNS = 1000

END = datetime(2026, 3, 31, tzinfo=UTC)


@dataclass
class Score:
    """Accepted matches against the truth, for one kind of entity."""

    entities: int = 0
    present: int = 0  # entities the truth has in MusicBrainz
    accepted: int = 0
    correct: int = 0

    def add(self, mbid: str | None, truth: str | None) -> None:
        self.entities += 1
        self.present += truth is not None
        if mbid is not None:
            self.accepted += 1
            self.correct += mbid == truth

    @property
    def precision(self) -> float:
        return self.correct / self.accepted if self.accepted else 1.0

    @property
    def recall(self) -> float:
        return self.correct / self.present if self.present else 1.0


@dataclass
class BenchResult:
    scores: dict[str, Score]
    plays: int
    runs: int
    mb_requests: int
    album_lookups: int
    rerun_mb_requests: int
    rerun_album_lookups: int
    seconds: float

    @property
    def entities(self) -> int:
        return sum(s.entities for s in self.scores.values())

    @property
    def requests_per_entity(self) -> float:
        return self.mb_requests / self.entities if self.entities else 0.0


def world_plays(world: World) -> pd.DataFrame:
    """The world's track plays (>= 30 s) as `plays` rows that polling saw (ids, ISRC, album)."""
    rows = []
    for user_id in world.users:
        for index, play in enumerate(world.plays(user_id)):
            if play.kind != "track" or play.ms_played < 30_000:
                continue
            track = world.tracks[play.item_id]
            artist = world.artists[track.artist_ids[0]].name
            rows.append(
                {
                    "user_id": user_id,
                    "play_id": f"{user_id}-{index}",
                    "day": play.started_at.date(),
                    "started_at": play.started_at,
                    "ended_at": play.ended_at,
                    "ended_at_precision": "ms",
                    "listened_ms": play.ms_played,
                    "listened_ms_estimated": True,
                    "track_id": track.id,
                    "track_key": track_key(artist, track.name),
                    "track_name": track.name,
                    "artist_name": artist,
                    "artist_ids": list(track.artist_ids),
                    "album_id": track.album_id,
                    "album_name": world.albums[track.album_id].name,
                    "duration_ms": track.duration_ms,
                    "isrc": track.isrc,
                    "sources": ["poll"],
                }
            )
    frame = pd.DataFrame(rows)
    for column in PLAYS.column_names:
        if column not in frame:
            frame[column] = None
    return frame[PLAYS.column_names]


def write_plays(warehouse: Warehouse, frame: pd.DataFrame) -> None:
    """One `plays` partition per UTC day, as the listening assets lay them out."""
    for day, rows in frame.groupby("day"):
        warehouse.write(PLAYS, rows, day.isoformat())
    warehouse.publish()


def score_tables(warehouse: Warehouse, world: World, track_ids: Iterable[str]) -> dict[str, Score]:
    """Precision/recall of mb_recordings, mb_releases, mb_artists over the entities that
    `track_ids` touch; an entity without a row counts as not accepted."""

    def accepted(spec: TableSpec, key: str, value: str) -> dict[str, str]:
        rows = warehouse.scan(spec, "status = 'matched'").to_pylist()
        return {r[key]: r[value] for r in rows}

    tracks = sorted(set(track_ids))
    albums = sorted({world.tracks[t].album_id for t in tracks})
    artists = sorted({a for t in tracks for a in world.tracks[t].artist_ids})
    found = {
        "tracks": accepted(MB_RECORDINGS, "track_id", "recording_mbid"),
        "albums": accepted(MB_RELEASES, "album_id", "release_mbid"),
        "artists": accepted(MB_ARTISTS, "artist_id", "artist_mbid"),
    }
    scores = {kind: Score() for kind in found}
    for kind, ids, entities in (
        ("tracks", tracks, world.tracks),
        ("albums", albums, world.albums),
        ("artists", artists, world.artists),
    ):
        for entity_id in ids:
            truth = entities[entity_id].mb
            scores[kind].add(found[kind].get(entity_id), truth.mbid if truth else None)
    return scores


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _mb_requests(counts: dict[str, int]) -> int:
    return sum(n for endpoint, n in counts.items() if "/ws/2/" in endpoint)


ALBUM_ENDPOINT = "GET /v1/albums/{id}"


def enrich_until_done(settings: Settings, resources: dict[str, Any], max_entities: int) -> int:
    """Materialize the MusicBrainz assets until no work is pending; returns the run count."""
    run_config = {
        **QUIET,
        "ops": {
            ENRICHMENT_OP: {"config": {"max_entities": max_entities}},
            "spotify_albums": {"config": {"max_albums": max_entities}},
        },
    }
    runs = 0
    previous = None
    while runs < MAX_RUNS:
        pending = pending_work(settings)
        if not pending.total or pending == previous:
            break
        previous = pending
        result = dg.materialize(
            [spotify_albums, musicbrainz_enrichment, genres],
            resources=resources,
            instance=dg.DagsterInstance.ephemeral(),
            run_config=run_config,
            raise_on_error=True,
        )
        runs += result.success
    return runs


def run_bench(
    *,
    seed: int,
    n_tracks: int,
    n_artists: int,
    days: int,
    max_entities: int,
    out: Callable[[str], None] = print,
) -> BenchResult:
    # A pinned end: the same world (and request counts) whatever day the bench runs.
    config = WorldConfig(seed=seed, n_tracks=n_tracks, n_artists=n_artists, days=days, end=END)
    with tempfile.TemporaryDirectory(prefix="mb-bench-") as tmp, running_emulator(config) as emu:
        mb_state(emu.state).min_interval_s = 0.0
        settings = load_settings(
            mode="emulator",
            data_dir=Path(tmp) / "data",
            emulator_port=emu.port,
            spotify_api_url=emu.base_url,
            spotify_accounts_url=emu.base_url,
            musicbrainz_url=emu.base_url,
            spotify_client_id=EMULATOR_CLIENT_ID,
            spotify_redirect_uri=f"http://127.0.0.1:{_free_port()}/callback",
        )
        login(
            settings,
            UserRegistry(settings),
            emulator_user="demo_heavy",
            open_browser=False,
            out=lambda _: None,
        )
        warehouse = Warehouse(settings)
        frame = world_plays(emu.state.world)
        write_plays(warehouse, frame)
        out(
            f"world: seed {seed}, {len(emu.state.world.tracks)} tracks, "
            f"{len(emu.state.world.artists)} artists, {days} days; "
            f"{len(frame)} plays touch {frame['track_id'].nunique()} distinct tracks"
        )
        resources = build_resources(settings)
        resources["musicbrainz"] = MusicBrainzClient(
            settings, sleep=lambda _: None, min_interval_s=0.0
        )
        emu.state.reset_request_counts()
        started = time.monotonic()
        runs = enrich_until_done(settings, resources, max_entities)
        seconds = time.monotonic() - started
        counts = emu.state.request_counts_snapshot()
        scores = score_tables(warehouse, emu.state.world, frame["track_id"])
        emu.state.reset_request_counts()
        # The re-run: one more full run although the sensor would see nothing pending.
        _one_run(resources)
        again = emu.state.request_counts_snapshot()
    return BenchResult(
        scores=scores,
        plays=len(frame),
        runs=runs,
        mb_requests=_mb_requests(counts),
        album_lookups=counts.get(ALBUM_ENDPOINT, 0),
        rerun_mb_requests=_mb_requests(again),
        rerun_album_lookups=again.get(ALBUM_ENDPOINT, 0),
        seconds=seconds,
    )


def _one_run(resources: dict[str, Any]) -> None:
    dg.materialize(
        [spotify_albums, musicbrainz_enrichment, genres],
        resources=resources,
        instance=dg.DagsterInstance.ephemeral(),
        run_config=QUIET,
    )


def render(result: BenchResult, max_entities: int) -> str:
    lines = [
        "MusicBrainz rate limit set to 0 on both sides (emulator and client): this measures "
        "matching quality and requests per entity, not wall time.",
        f"{result.runs} enrichment runs of at most {max_entities} entities each "
        f"({result.seconds:.1f} s)",
        "",
        f"{'':8} {'entities':>9} {'in MB':>7} {'accepted':>9} {'correct':>8} "
        f"{'precision':>10} {'recall':>7}",
    ]
    for kind, s in result.scores.items():
        lines.append(
            f"{kind:8} {s.entities:>9} {s.present:>7} {s.accepted:>9} {s.correct:>8} "
            f"{s.precision:>10.4f} {s.recall:>7.4f}"
        )
    lines += [
        "",
        f"MusicBrainz requests: {result.mb_requests} for {result.entities} entities = "
        f"{result.requests_per_entity:.3f} per entity (artist tag lookups included)",
        f"Spotify album lookups (GET /v1/albums/{{id}}, counted apart): {result.album_lookups} "
        f"for {result.scores['albums'].entities} albums",
        f"re-run: {result.rerun_mb_requests} MusicBrainz requests, "
        f"{result.rerun_album_lookups} Spotify album lookups",
    ]
    return "\n".join(lines)
