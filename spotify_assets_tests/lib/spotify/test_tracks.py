"""`lib/spotify/tracks.py` against the running emulator: which requests resolve which tracks,
checked against the world (every id it returns is the world's), ambiguity left unguessed,
a failing user skipped, the budget and a quota stop honoured. The pipeline around it (the lake,
the asset, the view) is tested in defs/listening/test_spotify_tracks.py."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import httpx
import pytest

from spotify_assets.emulator.server import EmulatorHandle
from spotify_assets.lib.spotify.client import SpotifyClient
from spotify_assets.lib.spotify.models import Paging, Track
from spotify_assets.lib.spotify.tracks import (
    ALBUM_ENDPOINT,
    TRACK_ENDPOINT,
    IdNeed,
    NameNeed,
    from_candidates,
    match_candidates,
    match_name,
    resolve_tracks,
)
from spotify_assets_tests.lib.spotify.conftest import MemoryTokenStore, authorize

USERS = [("demo_heavy", "l-heavy00"), ("demo_light", "l-light00")]


@pytest.fixture
def client(emu: EmulatorHandle, emu_settings) -> SpotifyClient:
    store = MemoryTokenStore()
    for user_id, _ in USERS:
        store.tokens[user_id] = authorize(emu_settings, user_id).refresh_token or ""
    emu.state.reset_request_counts()
    with SpotifyClient(emu_settings, store) as made:
        yield made


def v1_counts(emu: EmulatorHandle) -> dict[str, int]:
    return {k: v for k, v in emu.state.request_counts_snapshot().items() if "/v1/" in k}


def name_groups(emu: EmulatorHandle) -> dict[tuple[str, str], list[Any]]:
    """World tracks by folded title and primary artist name."""
    world = emu.state.world
    groups: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for track in world.tracks.values():
        artist = world.artists[track.artist_ids[0]].name
        groups[(match_name(track.name), match_name(artist))].append(track)
    return groups


def test_match_name_folds_case_space_quotes_and_feat() -> None:
    assert match_name("  Don\u2019t  STOP (feat. Ana & Bo) ") == "don't stop"
    assert match_name("Song [ft. X]") == match_name("song") == match_name("Song feat. X")
    assert match_name("Song (with Y)") == "song"
    assert match_name("Song - Remastered 2011") != match_name("Song")  # another recording
    assert match_name("Ｓｏｎｇ") == "song"  # full-width (NFKC)
    assert match_name(None) == ""


def test_only_equal_titles_and_artists_count_and_two_are_never_guessed() -> None:
    def track(i: str, name: str, artists: list[tuple[str, str]], isrc: str) -> dict:
        return {"id": i, "name": name, "artists": [{"id": a, "name": n} for a, n in artists],
                "album": {"id": f"al{i}", "name": "A"}, "external_ids": {"isrc": isrc}}

    page = Paging[Track].model_validate({"items": [
        track("1", "Blue (feat. Z)", [("a", "Nova"), ("z", "Z")], "X1"),
        track("2", "Blue", [("a", "Nova"), ("z", "Z")], "X1"),
        track("3", "Blue Hour", [("a", "Nova")], "X2"),
        track("4", "Blue", [("b", "Other")], "X3"),
    ]})
    found = match_candidates(page, "blue", "NOVA")
    assert [t.id for t in found] == ["1", "2"]
    both = from_candidates(found)
    assert (both.resolved_by, both.track_id, both.candidates) == ("ambiguous", None, 2)
    assert both.artist_ids == ("a", "z") and both.isrc == "X1"  # what both share is kept
    assert both.album_id is None  # they differ
    one = from_candidates(match_candidates(page, "Blue Hour", "nova"))
    assert (one.resolved_by, one.track_id, one.artist_ids) == ("search", "3", ("a",))
    assert from_candidates([]).resolved_by == "unresolved"


def test_ids_resolve_to_the_world_with_album_bodies_for_groups(
    emu: EmulatorHandle, client: SpotifyClient
) -> None:
    world = emu.state.world
    album = next(a for a in world.albums.values() if len(a.track_ids) >= 6)
    other = next(a for a in world.albums.values() if a.id != album.id and a.track_ids)
    third = next(a for a in world.albums.values()
                 if a.id not in (album.id, other.id) and len(a.track_ids) >= 3)
    needs = [IdNeed(t, album.id, "", 1) for t in album.track_ids[:4]]  # album known: 1 request
    hinted = [IdNeed(t, None, "the hint", 1) for t in album.track_ids[4:6]]  # learnt: 2
    single = [IdNeed(other.track_ids[0], None, "alone", 5)]  # one track: 1 lookup
    missing = [IdNeed("0000000000000000000000", None, "gone", 1)]
    trio = [IdNeed(t, None, "trio", 1) for t in third.track_ids[:3]]  # 1 lookup + its album
    result = resolve_tracks(client, USERS, [*needs, *hinted, *single, *missing, *trio], [], 100)
    assert result.stopped is None and result.failures == 0
    for track_id, resolved in result.by_id.items():
        if track_id == missing[0].track_id:
            assert resolved.resolved_by == "not_found"
            continue
        truth = world.tracks[track_id]
        assert resolved.track_id == track_id
        assert resolved.artist_ids == truth.artist_ids
        assert resolved.album_id == truth.album_id
        assert resolved.isrc in (None, truth.isrc)
    assert len(result.by_id) == 11
    # The known album's 4 tracks: 1 album body. The hinted pair: one lookup names that album,
    # whose body (already fetched) describes the other. The trio: one lookup names its album,
    # one body describes the other two. The lone and the missing track: 1 each.
    assert result.requests == {ALBUM_ENDPOINT: 2, TRACK_ENDPOINT: 4}
    assert v1_counts(emu) == {ALBUM_ENDPOINT: 2, TRACK_ENDPOINT: 4}


def test_names_resolve_to_the_world_and_ambiguity_keeps_only_what_is_shared(
    emu: EmulatorHandle, client: SpotifyClient
) -> None:
    world = emu.state.world
    groups = name_groups(emu)
    unique = [g[0] for g in groups.values() if len(g) == 1][:5]
    doubled = next(g for g in groups.values() if len(g) > 1)
    needs = [
        NameNeed(f"k{i}", t.name.upper(), world.artists[t.artist_ids[0]].name, 1)
        for i, t in enumerate([*unique, doubled[0]])
    ]
    needs.append(NameNeed("nope", "No Such Song At All", "Nobody", 1))
    result = resolve_tracks(client, USERS, [], needs, 100)
    for i, truth in enumerate(unique):
        resolved = result.by_name[f"k{i}"]
        assert (resolved.resolved_by, resolved.track_id) == ("search", truth.id)
        assert resolved.artist_ids == truth.artist_ids and resolved.isrc == truth.isrc
    ambiguous = result.by_name[f"k{len(unique)}"]
    assert ambiguous.resolved_by == "ambiguous" and ambiguous.track_id is None
    assert ambiguous.candidates == len(doubled)
    shared = {t.artist_ids for t in doubled}
    assert ambiguous.artist_ids == (doubled[0].artist_ids if len(shared) == 1 else ())
    assert result.by_name["nope"].resolved_by == "unresolved"
    assert v1_counts(emu) == {"GET /v1/search": len(needs)}


def test_a_revoked_user_is_skipped_and_the_budget_and_quota_stop_the_run(
    emu: EmulatorHandle, client: SpotifyClient
) -> None:
    world = emu.state.world
    tracks = [t for t in world.tracks.values()][:6]
    needs = [IdNeed(t.id, None, f"hint {i}", 1) for i, t in enumerate(tracks)]
    httpx.post(f"{emu.base_url}/_emulator/users/demo_heavy/revoke").raise_for_status()
    budgeted = resolve_tracks(client, USERS, needs, [], 3)
    assert budgeted.stopped is not None and "budget" in budgeted.stopped
    assert len(budgeted.by_id) == 3 and sum(budgeted.requests.values()) == 3
    assert budgeted.notes == ["user l-heavy00 skipped: must log in again"]
    assert all(r.artist_ids == world.tracks[t].artist_ids for t, r in budgeted.by_id.items())
    assert v1_counts(emu) == {TRACK_ENDPOINT: 3}

    httpx.post(f"{emu.base_url}/_emulator/faults",
               json={"path": "/v1/tracks/*", "kind": "quota", "after": 1}).raise_for_status()
    stopped = resolve_tracks(client, USERS, needs, [], 100)
    assert stopped.stopped is not None and "QuotaExceeded" in stopped.stopped
    assert len(stopped.by_id) == 1  # the rest waits for the next run
