"""release_radar_playlists against the emulator: only opted-in users get one, it holds the
week's new tracks (from the world's albums), one per user and week; a re-run asks nothing; a
playlist the user deleted is not recreated when the radar grows later that week.
"""

from __future__ import annotations

from spotify_assets.defs.releases.radar import (
    OPT_IN,
    playlist_name,
    release_radar_playlists,
)
from spotify_assets.defs.releases.tables import RELEASE_RADAR_PLAYLISTS
from spotify_assets_tests.defs.releases.conftest import (
    RADAR_ASSETS,
    WEEKS,
    Radar,
    metadata,
    radar_truth,
)
from spotify_assets_tests.emulator.conftest import api_client

OPTED = ("demo_heavy", "demo_light")
WEEK = WEEKS[1]


def expected_tracks(radar: Radar, user: str, truth: dict) -> list[str]:
    """The rule of the README, from the world: the user's radar releases newest first, each
    one's tracks in order that credit a matched artist, a (title, artists) repeat once."""
    world = radar.world
    mine = [(a, matched) for (u, a), matched in truth.items() if u == user]
    mine.sort(key=lambda am: (world.albums[am[0]].shown_release_date, am[0]), reverse=True)
    uris, seen = [], set()
    for album_id, matched in mine:
        for track_id in world.albums[album_id].track_ids:
            track = world.tracks[track_id]
            key = (track.name.casefold(), track.artist_ids)
            if set(track.artist_ids) & matched and key not in seen:
                seen.add(key)
                uris.append(f"spotify:track:{track_id}")
    return uris


def playlists_of(radar: Radar, user: str, week=WEEK) -> list[dict]:
    name = playlist_name(week)
    return [p for p in radar.control("GET", f"playlists?user={user}") if p["name"] == name]


def state(radar: Radar, user: str, week=WEEK) -> dict:
    [row] = radar.warehouse.scan(
        RELEASE_RADAR_PLAYLISTS, partitions=[f"{week.isoformat()}/{user}"]
    ).to_pylist()
    return row


def test_opted_in_users_get_the_weeks_tracks_once(radar: Radar) -> None:
    for user in OPTED:
        radar.registry.opt_in(user, OPT_IN)
    before = {u: len(playlists_of(radar, u)) for u in ("demo_tokyo", *OPTED)}
    radar.run_week(WEEK)
    truth = radar_truth(radar.world, WEEK, [WEEK])
    radar.reset_counts()

    result = radar.run_week(WEEK, (*RADAR_ASSETS, release_radar_playlists))

    assert len(playlists_of(radar, "demo_tokyo")) == before["demo_tokyo"]  # not opted in
    for user in OPTED:
        [made] = playlists_of(radar, user)[before[user]:]
        wanted = expected_tracks(radar, user, truth)
        assert wanted, f"{user} has new tracks this week"
        assert made["uris"] == wanted
        row = state(radar, user)
        assert (row["status"], row["playlist_id"]) == ("synced", made["id"])
        assert row["track_uris"] == wanted
    albums = {a for (u, a) in truth if u in OPTED}
    assert radar.counts()["GET /v1/albums/{id}/tracks"] == len(albums)  # once per album
    assert metadata(result, "release_radar_playlists")["outcomes"] == {"created": len(OPTED)}

    radar.reset_counts()
    again = radar.run_week(WEEK, (*RADAR_ASSETS, release_radar_playlists))
    assert radar.counts() == {}  # not even a token refresh
    assert metadata(again, "release_radar_playlists")["outcomes"] == {"unchanged": len(OPTED)}
    for user in OPTED:
        assert len(playlists_of(radar, user)) == before[user] + 1


def test_a_deleted_playlist_is_not_recreated_that_week(radar: Radar) -> None:
    from spotify_assets.bench.musicbrainz import world_plays, write_plays

    user, week = "demo_tokyo", WEEKS[-1]
    radar.registry.opt_in(user, OPT_IN)
    radar.run_week(week, (*RADAR_ASSETS, release_radar_playlists))
    first = state(radar, user, week)
    with api_client(radar.emulator, user) as app:
        app.delete("/v1/me/library", params={"uris": f"spotify:playlist:{first['playlist_id']}"})
    count = len(playlists_of(radar, user, week))
    # Later that week the radar grows: the operator turns on most-played artists, and this
    # user's most played include an artist with a release that week whom they do not follow.
    write_plays(radar.warehouse, world_plays(radar.world))
    grown = radar.settings.model_copy(update={"radar_top_played_artists": 5})
    radar.reset_counts()

    result = radar.run_week(week, (*RADAR_ASSETS, release_radar_playlists), settings=grown)

    assert len(state(radar, user, week)["album_ids"]) > len(first["album_ids"])
    assert radar.counts()["GET /v1/me/library/contains"] == 1
    assert "POST /v1/me/playlists" not in radar.counts()
    assert "POST /v1/playlists/{id}/items" not in radar.counts()
    assert len(playlists_of(radar, user, week)) == count
    assert state(radar, user, week)["status"] == "deleted_by_user"
    assert metadata(result, "release_radar_playlists")["outcomes"] == {"deleted_by_user": 1}
