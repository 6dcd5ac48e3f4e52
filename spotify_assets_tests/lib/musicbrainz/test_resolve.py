"""Precision and recall of the ISRC -> barcode -> search cascade against the world's truth.

Every Spotify track, album and artist of an emulator world goes through `resolve` and our
client over real HTTP; the accepted MBIDs are compared with the world's ground truth (which
the code under test never sees). Targets (issue 7): precision >= 0.99 over accepted matches,
recall >= 0.95 over the entities that exist in MusicBrainz. The world contains look-alike
artists, same-title recordings by others, live versions, title spelling variants, barcodes
stored without leading zeros, and entities absent from MusicBrainz.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import pytest

from spotify_assets.emulator.musicbrainz import mb_state
from spotify_assets.emulator.server import EmulatorHandle, running_emulator
from spotify_assets.emulator.world import World, WorldConfig
from spotify_assets.lib.musicbrainz.client import MusicBrainzClient
from spotify_assets.lib.musicbrainz.matching import Match
from spotify_assets.lib.musicbrainz.resolve import (
    SpotifyTrack,
    TrackResult,
    match_album,
    match_artist_via_credits,
    match_in_tracklist,
    match_track,
    release_recordings,
)
from spotify_assets.lib.settings import load_settings


@dataclass
class Score:
    accepted: int = 0
    correct: int = 0
    present: int = 0
    found: int = 0

    def add(self, match: Match | None, truth: str | None) -> None:
        self.present += truth is not None
        if match is not None:
            self.accepted += 1
            self.correct += match.mbid == truth
            self.found += truth is not None and match.mbid == truth

    @property
    def precision(self) -> float:
        return self.correct / self.accepted if self.accepted else 1.0

    @property
    def recall(self) -> float:
        return self.found / self.present if self.present else 1.0


def _spotify_track(world: World, track_id: str) -> SpotifyTrack:
    track = world.tracks[track_id]
    names = [world.artists[a].name for a in track.artist_ids]
    return SpotifyTrack(track.name, names, track.duration_ms, track.isrc)


def run_cascade(client: MusicBrainzClient, world: World) -> dict[str, Score]:
    """Match everything in the world the way the enrichment pipeline does: albums first."""
    scores = {"tracks": Score(), "albums": Score(), "artists": Score()}
    results: dict[str, TrackResult] = {}
    for album in world.albums.values():
        names = [world.artists[a].name for a in album.artist_ids]
        match = match_album(client, title=album.name, artists=names, upc=album.upc,
                            track_count=len(album.track_ids), release_date=album.release_date)
        scores["albums"].add(match, album.mb.mbid if album.mb else None)
        if match is None:
            continue
        recordings = release_recordings(client, match.mbid)
        for track_id in album.track_ids:
            result = match_in_tracklist(recordings, _spotify_track(world, track_id), match)
            if result.recording is not None and track_id not in results:
                results[track_id] = result
    credited: dict[str, list[Match]] = defaultdict(list)
    related: dict[str, set[str]] = defaultdict(set)
    for track_id, track in world.tracks.items():
        if track_id not in results:
            spotify = _spotify_track(world, track_id)
            results[track_id] = match_track(client, title=spotify.title, artists=spotify.artists,
                                            duration_ms=spotify.duration_ms, isrc=spotify.isrc)
        result = results[track_id]
        scores["tracks"].add(result.recording, track.mb.mbid if track.mb else None)
        for artist_id in track.artist_ids:
            name = world.artists[artist_id].name
            if name in result.artists:
                credited[artist_id].append(result.artists[name])
            for credit in (result.recording_data or {}).get("artist-credit", []):
                if isinstance(credit, dict):
                    related[artist_id].add(credit["artist"]["id"])
    for artist_id, artist in world.artists.items():
        match = match_artist_via_credits(client, artist.name, credited[artist_id],
                                         related_mbids=related[artist_id])
        scores["artists"].add(match, artist.mb.mbid if artist.mb else None)
    return scores


def _fast_client(handle: EmulatorHandle, tmp_path) -> MusicBrainzClient:
    mb_state(handle.state).min_interval_s = 0.0
    settings = load_settings(mode="emulator", data_dir=tmp_path / "data",
                             emulator_port=handle.port, musicbrainz_url=handle.base_url)
    return MusicBrainzClient(settings, sleep=lambda _: None, min_interval_s=0.0)


def _check(scores: dict[str, Score]) -> None:
    for kind, score in scores.items():
        assert score.present > 0 and score.accepted > 0, kind
        assert score.precision >= 0.99, (kind, score)
        assert score.recall >= 0.95, (kind, score)


def test_cascade_precision_and_recall_on_the_test_world(emu, tmp_path):
    client = _fast_client(emu, tmp_path)
    world = emu.state.world
    try:
        scores = run_cascade(client, world)
    finally:
        mb_state(emu.state).reset()
    _check(scores)
    # Albums cost ~2 requests, their tracks and the artists credited on them none.
    requests = sum(n for k, n in emu.state.request_counts_snapshot().items() if "/ws/2/" in k)
    entities = len(world.tracks) + len(world.albums) + len(world.artists)
    assert requests / entities <= 1.05, (requests, entities)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 99])
def test_cascade_precision_and_recall_on_a_benchmark_sized_world(seed, tmp_path):
    config = WorldConfig(seed=seed, days=2, n_artists=200, n_tracks=2500)
    with running_emulator(config) as handle:
        _check(run_cascade(_fast_client(handle, tmp_path), handle.state.world))
