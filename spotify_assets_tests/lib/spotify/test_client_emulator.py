"""SpotifyClient against the running emulator: the typed calls, their paging, the endpoints
development mode removed, and playlists (helpers and fixtures: `emulator_client.py`).

Faults (rate limits, server errors, bad bodies) are in test_client_faults.py, tokens in
test_client_tokens.py. Not covered here: pathological servers the emulator cannot play
(repeated pages, foreign `next` hosts), which are in test_client_stub_server.py.
"""

from __future__ import annotations

import math
from datetime import timedelta

import httpx
import pytest

from spotify_assets.emulator.world import datetime_to_ms
from spotify_assets.lib.spotify.errors import EndpointRemovedError, NotFoundError
from spotify_assets_tests.lib.spotify.emulator_client import (  # noqa: F401 (*_fixture: by name)
    HANDLES,
    HEAVY,
    LIGHT,
    TOKYO,
    TOP,
    control,
    counts,
    fake_time_fixture,
    known_handles_fixture,
    landed_fixture,
    make_client_fixture,
    reachable,
    store_fixture,
)

# ---- typed calls and paging ---------------------------------------------------------------


def test_me_is_the_enrolled_user(emu, make_client) -> None:
    client = make_client(TOKYO)
    profile = client.me(TOKYO)
    world_user = emu.state.world.users[TOKYO]
    assert (profile.id, profile.display_name) == (TOKYO, world_user.display_name)
    assert profile.account_id == world_user.account_id


@pytest.mark.parametrize("kind", ["tracks", "artists"])
@pytest.mark.parametrize("time_range", ["short_term", "medium_term", "long_term"])
def test_top_items_fetch_every_ranked_item_once(emu, make_client, kind, time_range) -> None:
    client = make_client(HEAVY)
    truth = emu.state.world.top(HEAVY, kind, time_range)
    got = client.top_items(HEAVY, kind, time_range, limit=7)
    assert [item.id for item in got] == truth
    assert counts(emu)[TOP] == max(1, math.ceil(len(truth) / 7))


def test_top_items_default_limit_is_one_page_of_fifty(emu, make_client, landed) -> None:
    client = make_client(HEAVY)
    got = client.top_items(HEAVY, "tracks", "short_term")
    assert [t.id for t in got] == emu.state.world.top(HEAVY, "tracks", "short_term")
    assert counts(emu)[TOP] == 1
    assert httpx.URL(landed[0][2]).params["limit"] == "50"


def test_followed_artists_cursor_paging_gets_each_once(emu, make_client) -> None:
    client = make_client(HEAVY)
    truth = emu.state.world.users[HEAVY].followed_artist_ids
    got = [a.id for a in client.followed_artists(HEAVY, limit=7)]
    assert sorted(got) == sorted(truth) and len(got) == len(set(got))
    assert counts(emu)["GET /v1/me/following"] == math.ceil(len(truth) / 7)
    assert [a.id for a in client.followed_artists(HEAVY)] == got


def test_artist_albums_pages_of_ten(emu, make_client, landed) -> None:
    world = emu.state.world
    groups = ("album", "single", "compilation", "appears_on")

    def discography(artist_id: str) -> set[str]:
        own = {a for a in world.artist_album_ids[artist_id] if world.albums[a].album_type in groups}
        return own | set(world.appears_on(artist_id))

    artist_id = max(world.artists, key=lambda a: (len(discography(a)), a))
    truth = discography(artist_id)
    assert len(truth) > 10, "the test world should have an artist with more than one page"
    client = make_client(LIGHT)
    got = [a.id for a in client.artist_albums(LIGHT, artist_id, include_groups=groups)]
    assert sorted(got) == sorted(truth) and len(got) == len(set(got))
    assert counts(emu)["GET /v1/artists/{id}/albums"] == math.ceil(len(truth) / 10)
    assert {httpx.URL(call[2]).params["limit"] for call in landed} == {"10"}


def test_album_track_and_artist_lookups(emu, make_client) -> None:
    world = emu.state.world
    album_id = max(world.albums, key=lambda a: (len(world.albums[a].track_ids), a))
    client = make_client(LIGHT)
    album = client.album(LIGHT, album_id)
    assert album.id == album_id and album.name == world.albums[album_id].name
    tracks = client.album_tracks(LIGHT, album_id)
    assert [t.id for t in tracks] == list(world.albums[album_id].track_ids)
    track_id = tracks[0].id
    assert track_id is not None
    track = client.track(LIGHT, track_id)
    assert track.external_ids is not None
    assert track.external_ids.isrc == world.tracks[track_id].isrc
    artist_id = world.tracks[track_id].artist_ids[0]
    assert client.artist(LIGHT, artist_id).name == world.artists[artist_id].name


def test_unknown_id_is_not_found_and_bad_id_never_reaches_the_server(emu, make_client) -> None:
    client = make_client(LIGHT)
    with pytest.raises(NotFoundError, match=HANDLES[LIGHT]):
        client.track(LIGHT, "0" * 22)
    with pytest.raises(ValueError, match="invalid Spotify id"):
        client.track(LIGHT, "../me")
    assert counts(emu)["GET /v1/tracks/{id}"] == 1


def test_recently_played_walks_back_to_every_reachable_play(emu, make_client) -> None:
    client = make_client(HEAVY)
    truth = reachable(emu, HEAVY)
    page = client.recently_played(HEAVY, limit=20)
    assert [item.played_at for item in page.items] == truth
    assert page.cursors is not None
    assert page.cursors.after == str(datetime_to_ms(truth[0]))
    assert page.cursors.before == str(datetime_to_ms(truth[-1]))
    # 20 + 20 + 10: the short third page ends the walk without a fourth request.
    assert counts(emu)["GET /v1/me/player/recently-played"] == 3


def test_recently_played_after_a_cursor_gets_only_newer_plays_once(emu, make_client) -> None:
    client = make_client(HEAVY)
    truth = reachable(emu, HEAVY)
    cursor = datetime_to_ms(truth[30])
    page = client.recently_played(HEAVY, after_ms=cursor, limit=7)
    assert [item.played_at for item in page.items] == truth[:30]
    assert page.cursors is not None and page.cursors.after == str(datetime_to_ms(truth[0]))
    # Nothing new since the newest play: empty, and the cursor stays put.
    again = client.recently_played(HEAVY, after_ms=datetime_to_ms(truth[0]))
    assert again.items == []
    assert again.cursors is not None and again.cursors.after == str(datetime_to_ms(truth[0]))


def test_latest_played_is_one_request_dated_by_spotify(emu, make_client, landed) -> None:
    moment = emu.state.world.end - timedelta(hours=20, seconds=3, microseconds=250_000)
    emu.state.clock.set(moment)
    client = make_client(HEAVY)
    page = client.latest_played(HEAVY)
    assert [item.played_at for item in page.items] == reachable(emu, HEAVY)
    assert len(page.items) == 50
    # Only ~50 plays are reachable: walking `before` past them would cost a request for nothing.
    assert counts(emu)["GET /v1/me/player/recently-played"] == 1
    assert httpx.URL(landed[-1][2]).params["limit"] == "50"
    assert page.fetched_at == moment.replace(microsecond=0)  # the answer's Date header


# ---- endpoints, playlists -----------------------------------------------------------------


def test_removed_endpoint_raises_until_extended_quota(emu, make_client) -> None:
    client = make_client(HEAVY)
    with pytest.raises(EndpointRemovedError, match="extended quota"):
        client.new_releases(HEAVY)
    assert counts(emu)["GET /v1/browse/new-releases"] == 1
    control(emu, "POST", "mode", {"extended_quota": True})
    albums = client.new_releases(HEAVY)
    ids = [a.id for a in albums]
    today = emu.state.clock.now().date().isoformat()
    released = [a for a in emu.state.world.albums.values() if a.release_date <= today]
    assert len(ids) == len(set(ids)) == min(100, len(released))
    assert set(ids) <= {a.id for a in released}
    # Extended quota brings the removed fields back, and the models keep them.
    artist = client.artist(HEAVY, emu.state.world.users[HEAVY].followed_artist_ids[0])
    assert artist.popularity is not None and artist.genres is not None


def test_dev_mode_fields_are_absent(emu, make_client) -> None:
    client = make_client(HEAVY)
    artist = client.artist(HEAVY, emu.state.world.users[HEAVY].followed_artist_ids[0])
    assert artist.popularity is None and artist.followers is None


def test_playlist_is_created_and_filled_in_chunks_of_100(emu, make_client) -> None:
    client = make_client(HEAVY)
    playlist = client.create_playlist(HEAVY, "Weekly radar", "made by spotify_assets")
    assert playlist.public is False
    uris = [f"spotify:track:{t}" for t in list(emu.state.world.tracks)[:230]]
    snapshot = client.add_playlist_items(HEAVY, playlist.id, uris)
    assert snapshot
    assert counts(emu)["POST /v1/playlists/{id}/items"] == 3
    stored = control(emu, "GET", f"playlists?user={HEAVY}")
    assert [p["uris"] for p in stored if p["id"] == playlist.id] == [uris]
    with pytest.raises(ValueError, match="not Spotify URIs"):
        client.add_playlist_items(HEAVY, playlist.id, ["https://open.spotify.com/x"])
