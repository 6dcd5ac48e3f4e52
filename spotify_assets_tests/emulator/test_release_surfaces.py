"""What the release radar needs from the emulator, over real HTTP: an artist's albums appear as
the clock passes their day and show month/year precision as Spotify does; deleting a playlist
(removing it from the owner's library) hides it from /me/playlists and library/contains but not
from its id; the `after` and `lost_answer` fault knobs; MusicBrainz release search by artist and
date range. Expectations come from the world's truth, never from the emulator's own listing code.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from musicbrainzngs import mbxml

from spotify_assets.emulator.musicbrainz import mb_state
from spotify_assets.emulator.server import EmulatorHandle
from spotify_assets_tests.emulator.conftest import api_client

GROUPS = ("album", "single", "compilation", "appears_on")


def _pages(client: httpx.Client, artist: str) -> list[dict]:
    items: list[dict] = []
    offset = 0
    while True:
        page = client.get(
            f"/v1/artists/{artist}/albums",
            params={"include_groups": ",".join(GROUPS), "limit": 10, "offset": offset},
        ).json()
        items += page["items"]
        offset += 10
        if page["next"] is None:
            return items


def _group(world, artist: str, album_id: str) -> str:
    album = world.albums[album_id]
    return "appears_on" if artist not in album.artist_ids else album.album_type


def test_artist_albums_list_what_is_out_by_the_clock_grouped_newest_first(emu) -> None:
    world = emu.state.world
    recent = min(
        (a for a in world.albums.values() if a.release_date >= "2026-02-25"),
        key=lambda a: (a.release_date, a.id),
    )
    artist = recent.artist_ids[0]
    day = datetime.fromisoformat(recent.release_date).replace(tzinfo=UTC)
    with api_client(emu, "demo_light") as client:
        emu.state.clock.set(day - timedelta(seconds=1))
        before = _pages(client, artist)
        emu.state.clock.set(day)
        after = _pages(client, artist)
    out = {a for a in world.artist_album_ids[artist]} | set(world.appears_on(artist))
    assert recent.id not in {i["id"] for i in before}
    assert {i["id"] for i in after} == {
        a for a in out if world.albums[a].release_date <= day.date().isoformat()
    }
    groups = [_group(world, artist, i["id"]) for i in after]
    # Grouped (each group one contiguous run), and newest first (true day) inside a group.
    runs = [g for n, g in enumerate(groups) if n == 0 or groups[n - 1] != g]
    assert len(runs) == len(set(runs))
    for group in set(groups):
        days = [
            world.albums[i["id"]].release_date
            for i in after
            if _group(world, artist, i["id"]) == group
        ]
        assert days == sorted(days, reverse=True)


def test_release_dates_show_their_precision(emu) -> None:
    world = emu.state.world
    coarse = {
        p: next(a for a in world.albums.values() if a.release_date_precision == p)
        for p in ("month", "year")
    }
    with api_client(emu, "demo_light") as client:
        for precision, album in coarse.items():
            body = client.get(f"/v1/albums/{album.id}").json()
            assert body["release_date_precision"] == precision
            assert body["release_date"] == album.release_date[: 7 if precision == "month" else 4]
            listed = [i for i in _pages(client, album.artist_ids[0]) if i["id"] == album.id]
            assert listed[0]["release_date"] == body["release_date"]


def test_a_playlist_removed_from_the_library_is_deleted_for_its_owner(emu) -> None:
    with api_client(emu, "demo_heavy") as client:
        made = client.post("/v1/me/playlists", json={"name": "Gone", "public": False}).json()
        uri = f"spotify:playlist:{made['id']}"
        assert client.get("/v1/me/library/contains", params={"uris": uri}).json() == [True]
        listed = client.get("/v1/me/playlists", params={"limit": 50}).json()
        assert made["id"] in [p["id"] for p in listed["items"]]
        assert client.delete("/v1/me/library", params={"uris": uri}).status_code == 200
        assert client.get("/v1/me/library/contains", params={"uris": uri}).json() == [False]
        listed = client.get("/v1/me/playlists", params={"limit": 50}).json()
        assert made["id"] not in [p["id"] for p in listed["items"]]
        # As on Spotify, a deleted playlist still answers by id.
        assert client.get(f"/v1/playlists/{made['id']}").status_code == 200
        bad = client.get("/v1/me/library/contains", params={"uris": "spotify:nothing:1"})
        assert bad.status_code == 400
        too_many = ",".join([uri] * 41)
        assert client.get("/v1/me/library/contains", params={"uris": too_many}).status_code == 400


def test_after_lets_requests_through_before_the_fault_fires(emu: EmulatorHandle) -> None:
    rule = {"path": "/v1/me", "kind": "status", "status": 503, "times": 1, "after": 2}
    httpx.post(f"{emu.base_url}/_emulator/faults", json=rule).raise_for_status()
    with api_client(emu, "demo_light") as client:
        statuses = [client.get("/v1/me").status_code for _ in range(4)]
    assert statuses == [200, 200, 503, 200]


def test_lost_answer_applies_the_request_then_fails(emu: EmulatorHandle) -> None:
    world = emu.state.world
    track = next(iter(world.tracks))
    with api_client(emu, "demo_heavy") as client:
        made = client.post("/v1/me/playlists", json={"name": "Lost", "public": False}).json()
        rule = {
            "path": f"/v1/playlists/{made['id']}/items",
            "kind": "lost_answer",
            "status": 502,
            "times": 1,
        }
        httpx.post(f"{emu.base_url}/_emulator/faults", json=rule).raise_for_status()
        failed = client.post(
            f"/v1/playlists/{made['id']}/items", json={"uris": [f"spotify:track:{track}"]}
        )
        items = client.get(f"/v1/playlists/{made['id']}/items").json()
    assert failed.status_code == 502
    assert failed.json()["error"]["status"] == 502
    assert [i["item"]["id"] for i in items["items"]] == [track]


def test_musicbrainz_release_search_by_artist_and_date_range(emu: EmulatorHandle) -> None:
    world = emu.state.world
    state = mb_state(emu.state)
    state.reset()
    state.min_interval_s = 0.0
    artist = max(
        world.mb_artists.values(),
        key=lambda a: sum(a.mbid in r.artist_mbids for r in world.mb_releases.values()),
    )
    dated = sorted(r.date for r in world.mb_releases.values() if artist.mbid in r.artist_mbids)
    low, high = dated[len(dated) // 3], dated[-1]
    truth = {
        r.mbid
        for r in world.mb_releases.values()
        if artist.mbid in r.artist_mbids and low <= r.date <= high
    }
    headers = {"User-Agent": "spotify-assets-tests/1.0 ( tests@example.org )"}
    try:
        answer = httpx.get(
            f"{emu.base_url}/ws/2/release/",
            params={"query": f"arid:{artist.mbid} AND date:[{low} TO {high}]", "limit": 100},
            headers=headers,
        )
        open_ended = httpx.get(
            f"{emu.base_url}/ws/2/release/",
            params={"query": f"arid:{artist.mbid} AND date:[{low} TO *]", "limit": 100},
            headers=headers,
        )
    finally:
        state.reset()
    found = mbxml.parse_message(answer.content)["release-list"]
    assert {r["id"] for r in found} == truth and len(truth) < len(dated)
    assert {r["id"] for r in mbxml.parse_message(open_ended.content)["release-list"]} == truth
    assert all(low <= r["date"] <= high for r in found)
