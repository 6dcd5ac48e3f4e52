"""`GET /v1/search?type=track` over real HTTP: field filters, ranking, the 2026 dev-mode limit and
its errors, checked against the world; through the project's client too (`search_tracks`).
The body's shape is checked against the OpenAPI spec in test_openapi_conformance.py."""

from __future__ import annotations

from collections import defaultdict

import pytest

from spotify_assets.emulator.server import EmulatorHandle
from spotify_assets.emulator.spotify_api.routes_search import words
from spotify_assets.lib.spotify.client import SpotifyClient
from spotify_assets_tests.emulator.conftest import api_client
from spotify_assets_tests.lib.spotify.conftest import MemoryTokenStore, authorize


def _same_title_pairs(emu: EmulatorHandle) -> list[list]:
    """Tracks that share a title and primary artist (an album and its deluxe edition)."""
    world = emu.state.world
    groups = defaultdict(list)
    for track in world.tracks.values():
        groups[(words(track.name), track.artist_ids[0])].append(track)
    return [g for g in groups.values() if len(g) > 1]


def _unique_track(emu: EmulatorHandle):
    world = emu.state.world
    titles = defaultdict(int)
    for track in world.tracks.values():
        titles[words(track.name)] += 1
    return next(t for t in world.tracks.values() if titles[words(t.name)] == 1)


def test_track_and_artist_filters_find_the_world_track(emu: EmulatorHandle) -> None:
    world = emu.state.world
    track = _unique_track(emu)
    artist = world.artists[track.artist_ids[0]].name
    with api_client(emu, "demo_light") as client:
        exact = client.get("/v1/search", params={
            "q": f'track:"{track.name.upper()}" artist:"{artist}"', "type": "track", "limit": 10,
        })
        by_isrc = client.get("/v1/search", params={"q": f"isrc:{track.isrc}", "type": "track"})
        other_artist = next(a for a in world.artists.values() if a.id not in track.artist_ids)
        none = client.get("/v1/search", params={
            "q": f'track:"{track.name}" artist:"{other_artist.name}"', "type": "track",
        })
    assert exact.status_code == 200, exact.text
    page = exact.json()["tracks"]
    assert [t["id"] for t in page["items"]] == [track.id]
    assert page["total"] == 1 and page["limit"] == 10 and page["next"] is None
    assert [a["id"] for a in page["items"][0]["artists"]] == list(track.artist_ids)
    assert page["items"][0]["album"]["id"] == track.album_id
    assert track.id in [t["id"] for t in by_isrc.json()["tracks"]["items"]]
    assert none.json()["tracks"]["items"] == []


def test_same_titles_are_all_returned_exact_title_first(emu: EmulatorHandle) -> None:
    pairs = _same_title_pairs(emu)
    assert pairs, "the world should have album/deluxe tracks of one title"
    group = pairs[0]
    world = emu.state.world
    with api_client(emu, "demo_light") as client:
        body = client.get("/v1/search", params={
            "q": f'track:"{group[0].name}" artist:"{world.artists[group[0].artist_ids[0]].name}"',
            "type": "track", "limit": 10,
        }).json()["tracks"]
    ids = [t["id"] for t in body["items"]]
    assert {t.id for t in group} <= set(ids)
    exact = [i for i in ids if words(world.tracks[i].name) == words(group[0].name)]
    assert ids[: len(exact)] == exact


def test_dev_mode_limit_paging_and_errors(emu: EmulatorHandle) -> None:
    counts: dict[str, int] = defaultdict(int)
    for track in emu.state.world.tracks.values():
        for word in set(words(track.name)):
            counts[word] += 1
    common = max(counts, key=lambda w: (counts[w], w))
    assert counts[common] > 20
    q = {"q": common, "type": "track"}
    with api_client(emu, "demo_light") as client:
        first = client.get("/v1/search", params={**q, "limit": 10}).json()
        default = client.get("/v1/search", params=q).json()
        second = client.get("/v1/search", params={**q, "limit": 10, "offset": 10}).json()
        over = client.get("/v1/search", params={**q, "limit": 11})
        cases = {
            "no q": client.get("/v1/search", params={"type": "track"}),
            "no type": client.get("/v1/search", params={"q": "a"}),
            "bad type": client.get("/v1/search", params={"q": "a", "type": "song"}),
            "offset": client.get("/v1/search", params={"q": "a", "type": "track",
                                                       "offset": 1001}),
        }
        emu.state.extended_quota = True
        wide = client.get("/v1/search", params={"q": "a", "type": "track", "limit": 50})
    assert len(default["tracks"]["items"]) == 5
    assert first["tracks"]["total"] >= counts[common]
    assert len(first["tracks"]["items"]) == 10 and first["tracks"]["next"] is not None
    assert not {t["id"] for t in first["tracks"]["items"]} & {
        t["id"] for t in second["tracks"]["items"]
    }
    assert over.status_code == 400
    for label, response in cases.items():
        assert response.status_code == 400, label
        assert response.json()["error"]["status"] == 400, label
    assert wide.status_code == 200 and wide.json()["tracks"]["limit"] == 50


def test_the_client_searches_with_field_filters(emu: EmulatorHandle, emu_settings) -> None:
    world = emu.state.world
    track = _unique_track(emu)
    store = MemoryTokenStore()
    store.tokens["demo_tokyo"] = authorize(emu_settings, "demo_tokyo").refresh_token or ""
    with SpotifyClient(emu_settings, store) as client:
        page = client.search_tracks("demo_tokyo", track.name,
                                    world.artists[track.artist_ids[0]].name)
        with pytest.raises(ValueError):
            client.search_tracks("demo_tokyo", "x", limit=11)
    assert [t.id for t in page.items] == [track.id]
    assert page.items[0].external_ids is not None
    assert page.items[0].external_ids.isrc == track.isrc
    assert emu.state.request_counts_snapshot().get("GET /v1/search") == 1
