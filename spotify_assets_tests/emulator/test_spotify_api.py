"""Web API behaviour over real HTTP: recently-played reach and cursors, offset and cursor paging,
dev-mode limits and removed endpoints, auth and scopes, playlists. Shapes are checked against the
OpenAPI spec in test_openapi_conformance.py; here the values are checked against the world.
"""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from spotify_assets.emulator.server import EmulatorHandle
from spotify_assets.emulator.world import datetime_to_ms
from spotify_assets_tests.emulator.conftest import api_client


def _counted_track_plays(emu: EmulatorHandle, user: str) -> list:
    return [p for p in emu.state.world.plays(user)
            if p.kind == "track" and p.ms_played >= 30_000 and p.ended_at <= emu.state.clock.now()]


def _played_at(play) -> str:
    ended = play.ended_at
    return ended.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ended.microsecond // 1000:03d}Z"


def _follow(client: httpx.Client, url: str, key: str | None = None) -> list[dict]:
    """Every item of a paged endpoint, following `next` URLs as given."""
    items: list[dict] = []
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.text
        page = response.json()[key] if key else response.json()
        items += page["items"]
        url = page["next"]
    return items


# --- recently played --------------------------------------------------------------------------


def test_recently_played_reaches_only_the_50_most_recent(emu: EmulatorHandle) -> None:
    emu.state.clock.set(emu.state.world.end)
    truth = _counted_track_plays(emu, "demo_heavy")
    assert len(truth) > 200
    with api_client(emu, "demo_heavy") as client:
        items = _follow(client, "/v1/me/player/recently-played?limit=20")
        assert [i["played_at"] for i in items] == [_played_at(p) for p in truth[::-1][:50]]
        assert [i["track"]["id"] for i in items] == [p.item_id for p in truth[::-1][:50]]
        oldest = datetime_to_ms(truth[-50].ended_at)
        beyond = client.get(f"/v1/me/player/recently-played?before={oldest}&limit=50").json()
        assert beyond["items"] == [] and beyond["next"] is None and beyond["cursors"] is None


def test_recently_played_follows_the_clock_and_context(emu: EmulatorHandle) -> None:
    clock = emu.state.world.end - timedelta(days=1, hours=5)
    emu.state.clock.set(clock)
    truth = _counted_track_plays(emu, "demo_heavy")[::-1][:50]
    with api_client(emu, "demo_heavy") as client:
        body = client.get("/v1/me/player/recently-played?limit=50").json()
    assert body["items"][0]["played_at"] == _played_at(truth[0])
    assert truth[0].ended_at <= clock
    contexts = [i["context"] for i in body["items"]]
    assert contexts == [None if p.context_uri is None else {
        "type": p.context_uri.split(":")[1],
        "href": f"{emu.base_url}/v1/{p.context_uri.split(':')[1]}s/{p.context_uri.split(':')[2]}",
        "external_urls": {"spotify": "https://open.spotify.com/"
                                     + "/".join(p.context_uri.split(":")[1:])},
        "uri": p.context_uri,
    } for p in truth]
    assert None in contexts and any(c is not None for c in contexts)
    assert body["cursors"] == {"after": str(datetime_to_ms(truth[0].ended_at)),
                               "before": str(datetime_to_ms(truth[-1].ended_at))}


def test_recently_played_after_cursor(emu: EmulatorHandle) -> None:
    emu.state.clock.set(emu.state.world.end)
    truth = _counted_track_plays(emu, "demo_tokyo")[::-1][:50]
    after = datetime_to_ms(truth[10].ended_at)
    with api_client(emu, "demo_tokyo") as client:
        newer = client.get(f"/v1/me/player/recently-played?after={after}&limit=50").json()
        assert [i["played_at"] for i in newer["items"]] == [_played_at(p) for p in truth[:10]]
        few = client.get(f"/v1/me/player/recently-played?after={after}&limit=3").json()
        # The plays right after the cursor, so polling forward leaves no gap.
        assert [i["played_at"] for i in few["items"]] == [_played_at(p) for p in truth[7:10]]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("limit=51", "Invalid limit"),
        ("limit=0", "Invalid limit"),
        ("limit=ten", "Invalid limit"),
        ("after=1&before=2", "Only one of after or before"),
        ("after=yesterday", "Invalid after"),
    ],
)
def test_recently_played_rejects_bad_parameters(emu: EmulatorHandle, query: str,
                                                message: str) -> None:
    with api_client(emu, "demo_light") as client:
        response = client.get(f"/v1/me/player/recently-played?{query}")
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith(message)


# --- top, following ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["tracks", "artists"])
def test_top_items_page_through_the_truth(emu: EmulatorHandle, kind: str) -> None:
    world = emu.state.world
    truth = world.top("demo_skipper", kind, "short_term")
    with api_client(emu, "demo_skipper") as client:
        first = client.get(f"/v1/me/top/{kind}?time_range=short_term&limit=7&offset=0").json()
        assert first["total"] == len(truth) and first["previous"] is None
        items = _follow(client, f"/v1/me/top/{kind}?time_range=short_term&limit=7")
        second = client.get(first["next"]).json()
        assert second["offset"] == 7 and second["previous"] is not None
    assert [i["id"] for i in items] == truth


def test_top_items_validate_parameters(emu: EmulatorHandle) -> None:
    with api_client(emu, "demo_light") as client:
        assert client.get("/v1/me/top/tracks?limit=51").status_code == 400
        assert client.get("/v1/me/top/tracks?time_range=forever").status_code == 400
        assert client.get("/v1/me/top/albums").status_code == 400
        default = client.get("/v1/me/top/artists").json()
    assert default["limit"] == 20
    assert "time_range=medium_term" in default["href"]


def test_following_uses_an_artist_id_cursor(emu: EmulatorHandle) -> None:
    followed = sorted(emu.state.world.users["demo_heavy"].followed_artist_ids)
    with api_client(emu, "demo_heavy") as client:
        items = _follow(client, "/v1/me/following?type=artist&limit=7", key="artists")
        first = client.get("/v1/me/following?type=artist&limit=7").json()["artists"]
        assert client.get("/v1/me/following").status_code == 400
        assert client.get("/v1/me/following?type=artist&limit=51").status_code == 400
    assert [i["id"] for i in items] == followed
    assert first["total"] == len(followed) and first["cursors"]["after"] == followed[6]


# --- catalogue lookups ------------------------------------------------------------------------


def test_artist_albums_dev_mode_limit_groups_and_paging(emu: EmulatorHandle) -> None:
    world = emu.state.world
    artist = max(world.artists, key=lambda a: len(world.artist_album_ids[a]))
    own = world.artist_album_ids[artist]
    with api_client(emu, "demo_heavy") as client:
        too_many = client.get(f"/v1/artists/{artist}/albums?limit=11")
        assert too_many.status_code == 400
        assert too_many.json()["error"]["message"] == "Invalid limit"
        albums = _follow(client, f"/v1/artists/{artist}/albums?include_groups=album,single,"
                                 "compilation&limit=10")
        singles = _follow(client, f"/v1/artists/{artist}/albums?include_groups=single&limit=10")
        assert client.get(f"/v1/artists/{artist}/albums?include_groups=live").status_code == 400
        default = client.get(f"/v1/artists/{artist}/albums").json()
        emu.state.extended_quota = True
        assert client.get(f"/v1/artists/{artist}/albums?limit=50").status_code == 200
    assert sorted(a["id"] for a in albums) == sorted(own)
    assert len({a["id"] for a in albums}) == len(albums)
    assert singles and {a["album_type"] for a in singles} == {"single"}
    assert default["limit"] == 5
    dates = [a["release_date"] for a in albums if a["album_type"] == "album"]
    assert dates == sorted(dates, reverse=True)


def test_appears_on_lists_other_artists_albums(emu: EmulatorHandle) -> None:
    world = emu.state.world
    guest = next(a for a in world.artists if world.appears_on(a))
    with api_client(emu, "demo_light") as client:
        items = _follow(client, f"/v1/artists/{guest}/albums?include_groups=appears_on&limit=10")
    assert sorted(i["id"] for i in items) == sorted(world.appears_on(guest))
    for item in items:
        assert guest not in [a["id"] for a in item["artists"]]


def test_album_track_and_codes_match_the_world(emu: EmulatorHandle) -> None:
    world = emu.state.world
    album = next(a for a in world.albums.values() if len(a.track_ids) >= 8)
    with api_client(emu, "demo_light") as client:
        body = client.get(f"/v1/albums/{album.id}").json()
        tracks = _follow(client, f"/v1/albums/{album.id}/tracks?limit=3")
        track = client.get(f"/v1/tracks/{album.track_ids[0]}").json()
        assert client.get(f"/v1/albums/{album.id}/tracks?limit=51").status_code == 400
        assert client.get("/v1/tracks/not-an-id").status_code == 400
        assert client.get("/v1/tracks/0000000000000000000000").status_code == 404
    assert body["external_ids"] == {"upc": album.upc}
    assert body["total_tracks"] == len(album.track_ids)
    assert [t["id"] for t in tracks] == list(album.track_ids)
    assert track["external_ids"] == {"isrc": world.tracks[album.track_ids[0]].isrc}
    assert track["album"]["id"] == album.id
    assert [a["id"] for a in track["artists"]] == list(world.tracks[track["id"]].artist_ids)


REMOVED_ENDPOINTS = [
    "/v1/browse/new-releases",
    "/v1/tracks?ids={track}",
    "/v1/albums?ids={album}",
    "/v1/artists?ids={artist}",
    "/v1/artists/{artist}/top-tracks",
    "/v1/users/demo_light/playlists",
    "/v1/users/demo_light",
]


def test_removed_endpoints_answer_403_unless_extended_quota(emu: EmulatorHandle) -> None:
    world = emu.state.world
    album = next(iter(world.albums.values()))
    ids = {"track": album.track_ids[0], "album": album.id, "artist": album.artist_ids[0]}
    with api_client(emu, "demo_light") as client:
        for path in REMOVED_ENDPOINTS:
            response = client.get(path.format(**ids))
            assert response.status_code == 403, path
            assert response.json() == {"error": {"status": 403, "message": "Forbidden"}}
        emu.state.extended_quota = True
        for path in REMOVED_ENDPOINTS:
            assert client.get(path.format(**ids)).status_code == 200, path
        releases = client.get("/v1/browse/new-releases?limit=50").json()["albums"]["items"]
    # Newest first by the true day (a month- or year-precision date shows only a prefix of it).
    dates = [world.albums[a["id"]].release_date for a in releases]
    assert dates == sorted(dates, reverse=True)
    assert dates[0] <= emu.state.clock.now().date().isoformat()
    for item in releases:
        assert world.albums[item["id"]].release_date.startswith(item["release_date"])


# --- auth and scopes --------------------------------------------------------------------------


def test_access_tokens_expire_after_an_hour_of_emulator_time(emu: EmulatorHandle) -> None:
    with api_client(emu, "demo_light") as client:
        assert client.get("/v1/me").status_code == 200
        emu.state.clock.advance(3599)
        assert client.get("/v1/me").status_code == 200
        emu.state.clock.advance(2)
        expired = client.get("/v1/me")
    assert expired.status_code == 401
    assert expired.json() == {"error": {"status": 401, "message": "The access token expired"}}


def test_missing_and_unknown_tokens_are_401(emu: EmulatorHandle) -> None:
    missing = httpx.get(f"{emu.base_url}/v1/me/top/tracks")
    unknown = httpx.get(f"{emu.base_url}/v1/me", headers={"Authorization": "Bearer BQxyz"})
    assert missing.status_code == unknown.status_code == 401
    assert missing.json()["error"]["message"] == "No token provided"
    assert unknown.json()["error"]["message"] == "Invalid access token"


def test_scopes_are_enforced(emu: EmulatorHandle) -> None:
    with api_client(emu, "demo_light", scope="user-read-recently-played") as client:
        assert client.get("/v1/me/player/recently-played").status_code == 200
        for path in ("/v1/me/top/tracks", "/v1/me/following?type=artist"):
            response = client.get(path)
            assert response.status_code == 403, path
            assert response.json()["error"]["message"] == "Insufficient client scope"
        assert client.post("/v1/me/playlists", json={"name": "x"}).status_code == 403
    with api_client(emu, "demo_light", scope="playlist-modify-private") as client:
        assert client.post("/v1/me/playlists", json={"name": "x", "public": True}).status_code \
            == 403
        assert client.post("/v1/me/playlists", json={"name": "x", "public": False}).status_code \
            == 201


# --- playlists --------------------------------------------------------------------------------


def test_playlist_create_add_and_read(emu: EmulatorHandle) -> None:
    world = emu.state.world
    uris = [f"spotify:track:{t}" for t in list(world.tracks)[:150]]
    with api_client(emu, "demo_podcast") as client:
        created = client.post("/v1/me/playlists", json={
            "name": "Release Radar", "description": "weekly", "public": False,
        })
        assert created.status_code == 201
        playlist = created.json()
        assert playlist["owner"]["id"] == "demo_podcast" and playlist["public"] is False
        pid = playlist["id"]
        too_many = client.post(f"/v1/playlists/{pid}/items", json={"uris": uris[:101]})
        assert too_many.status_code == 400
        bad = client.post(f"/v1/playlists/{pid}/items", json={"uris": ["spotify:track:nope"]})
        assert bad.status_code == 400
        snapshots = set()
        for chunk in (uris[:100], uris[100:150]):
            added = client.post(f"/v1/playlists/{pid}/items", json={"uris": chunk})
            assert added.status_code == 201
            snapshots.add(added.json()["snapshot_id"])
        items = _follow(client, f"/v1/playlists/{pid}/items?limit=50")
        assert client.post("/v1/me/playlists", json={}).status_code == 400
        assert client.post("/v1/me/playlists", content=b"{nope").status_code == 400
        assert client.post("/v1/me/playlists",
                           json={"name": "x", "public": "no"}).status_code == 400
        assert client.post(f"/v1/playlists/{pid}/items",
                           json={"uris": uris[:1], "position": "top"}).status_code == 400
        assert client.post(f"/v1/playlists/{pid}/items",
                           json={"uris": uris[:1], "position": 999}).status_code == 400
    assert len(snapshots) == 2
    assert [i["item"]["uri"] for i in items] == uris[:150]
    assert all(i["added_by"]["id"] == "demo_podcast" for i in items)
    with api_client(emu, "demo_light") as other:
        assert other.get(f"/v1/playlists/{pid}/items").status_code == 403
        assert other.post(f"/v1/playlists/{pid}/items",
                          json={"uris": uris[:1]}).status_code == 403
    truth = httpx.get(f"{emu.base_url}/_emulator/playlists?user=demo_podcast").json()
    assert any(p["id"] == pid and p["uris"] == uris[:150] for p in truth)


def test_unknown_v1_paths_are_404(emu: EmulatorHandle) -> None:
    with api_client(emu, "demo_light") as client:
        response = client.get("/v1/me/nothing-here")
    assert response.status_code == 404
    assert response.json() == {"error": {"status": 404, "message": "Service not found"}}
