"""followed_artists -> artist_releases -> release_radar against the emulator, week by week at
the schedule's tick: real logins, real HTTP, real Parquet, real Dagster runs.

Covers: follows and each user's radar for each week equal the world's truth (collaborations
once with every followed artist, month-precision releases by the documented rule); the request
budget (artist-albums requests = distinct followed artists x pages, a second run and doubled
users add none); later weeks page incrementally; a 429 mid-listing loses nothing. Not here:
playlists, new releases, trending, schedules (their own files).
"""

from __future__ import annotations

import shutil
from collections import defaultdict

import pytest

from spotify_assets.defs.operations.rebuild import rebuild
from spotify_assets.defs.releases.tables import (
    ARTIST_RELEASE_FETCHES,
    ARTIST_RELEASES,
    FOLLOWED_ARTISTS,
    RELEASE_RADAR,
)
from spotify_assets.emulator.faults import FaultRule
from spotify_assets.lib.users.registry import UserRegistry
from spotify_assets.user_commands import remove_user
from spotify_assets_tests.defs.releases.conftest import (
    ALBUMS,
    FOLLOWING,
    USERS,
    WEEKS,
    Radar,
    followed,
    listing_size,
    metadata,
    pages,
    radar_truth,
    tick,
)
from spotify_assets_tests.defs.replayed import lake_files, lose_and_replay
from spotify_assets_tests.lib.spotify.conftest import authorize

RELEASE_TABLES = ["artist_releases", "artist_release_fetches"]


def radar_of(radar: Radar, week) -> dict[tuple[str, str], dict]:
    rows = radar.warehouse.scan(RELEASE_RADAR, partitions=[week.isoformat()]).to_pylist()
    keyed = {(r["user_id"], r["album_id"]): r for r in rows}
    assert len(keyed) == len(rows), "a release is listed twice for a user"
    return keyed


def test_each_users_radar_equals_the_world_week_by_week(radar: Radar) -> None:
    world = radar.world
    month_precision = 0
    for week in WEEKS:
        radar.run_week(week)

        follows = radar.warehouse.scan(FOLLOWED_ARTISTS, "week = ?", [week]).to_pylist()
        got_follows = defaultdict(set)
        for row in follows:
            got_follows[row["user_id"]].add(row["artist_id"])
        assert got_follows == {u: set(world.users[u].followed_artist_ids) for u in USERS}

        truth = radar_truth(world, week, WEEKS)
        got = radar_of(radar, week)
        assert set(got) == set(truth), week
        for (user, album_id), row in got.items():
            album = world.albums[album_id]
            assert set(row["matched_artist_ids"]) == truth[(user, album_id)]
            assert row["matched_via"] == ["follow"] * len(row["matched_artist_ids"])
            names = [world.artists[a].name for a in row["matched_artist_ids"]]
            assert row["matched_artist_names"] == names
            assert (row["album_name"], row["album_type"]) == (album.name, album.album_type)
            assert row["total_tracks"] == len(album.track_ids)
            assert row["release_date"] == album.shown_release_date
            assert row["url"] == f"https://open.spotify.com/album/{album_id}"
            month_precision += album.release_date_precision == "month"
    # The world has collaborations of followed artists and month-only dates in these weeks:
    # the comparisons above did cover them.
    everything = [t for w in WEEKS for t in radar_truth(world, w, WEEKS).values()]
    assert any(len(matched) >= 2 for matched in everything)
    assert month_precision >= 1


def test_request_budget_second_run_and_doubled_users(radar: Radar) -> None:
    world = radar.world
    week = WEEKS[-1]
    artists = followed(world)

    first = radar.run_week(week)

    expected = pages(world, artists, tick(week))
    assert radar.counts()[ALBUMS] == expected
    assert radar.counts()[FOLLOWING] == len(USERS)  # fewer than 50 follows each: one page
    assert metadata(first, "artist_releases")["artist_album_requests"] == expected
    fetches = radar.warehouse.scan(ARTIST_RELEASE_FETCHES).to_pylist()
    assert sorted(r["artist_id"] for r in fetches) == sorted(artists)  # once per artist
    assert all(r["mode"] == "full" and r["ordered"] for r in fetches)
    # Every page's body is kept as received.
    landed = list((radar.settings.raw_dir / "spotify_artists_id_albums").rglob("*.json.gz"))
    assert len(landed) == expected
    print(f"week {week}: {len(artists)} distinct artists, {expected} artist-albums requests")

    radar.reset_counts()
    radar.run_week(week)
    assert radar.counts().get(ALBUMS, 0) == 0 and radar.counts().get(FOLLOWING, 0) == 0

    # Five more users with exactly the same follows (the same accounts, enrolled again).
    for user in USERS:
        token = authorize(radar.settings, user).refresh_token or ""
        radar.registry.enroll(f"{user}_twin", f"{user} twin", token)
    radar.reset_counts()
    before = radar_of(radar, week)
    radar.run_week(week)
    assert radar.counts().get(ALBUMS, 0) == 0
    assert radar.counts()[FOLLOWING] == len(USERS)  # the twins' own follow snapshots
    after = radar_of(radar, week)
    assert {(u, a): r["matched_artist_ids"] for (u, a), r in before.items()} == {
        (u.removesuffix("_twin"), a): r["matched_artist_ids"]
        for (u, a), r in after.items() if u.endswith("_twin")
    }


def test_later_weeks_page_incrementally(radar: Radar) -> None:
    world = radar.world
    radar.run_week(WEEKS[0])
    for week in WEEKS[1:]:
        radar.reset_counts()
        radar.run_week(week)
        rows = radar.warehouse.scan(ARTIST_RELEASE_FETCHES, "week = ?", [week]).to_pylist()
        assert {r["mode"] for r in rows} == {"incremental"}
        assert sum(r["requests"] for r in rows) == radar.counts()[ALBUMS]
        for row in rows:
            assert row["requests"] <= max(1, -(-listing_size(world, row["artist_id"],
                                                              tick(week)) // 10))
        print(f"week {week}: {len(rows)} artists, {radar.counts()[ALBUMS]} requests")

    # Rebuild from raw (no lake, no catalog): each week's listings are paged again from their
    # bodies against what the weeks before left, so the incremental weeks come back too.
    tables = [*RELEASE_TABLES, "followed_artists"]
    before = lake_files(radar.settings, tables)
    assert all(len(before[t]) >= len(WEEKS) for t in tables)
    shutil.rmtree(radar.settings.lake_dir)
    radar.settings.warehouse_path.unlink()
    report = rebuild(radar.settings, radar.instance)
    assert report.failed_runs == 0 and report.receipts_replayed > len(WEEKS)
    assert lake_files(radar.settings, tables) == before


def test_a_removed_listeners_listings_leave_the_rebuild_and_the_rest_comes_back(
    radar: Radar,
) -> None:
    """A listing's receipt and bodies are its asker's (the first follower, by id, with a
    working login): `users remove` takes them. demo_heavy asks for every artist they follow
    in the first week, must log in again after it (others then ask for the shared ones,
    paging from what heavy's fetch saw), and is removed; a rebuild from raw gives back every
    row of the artists heavy never asked for, and none of the others (no half history)."""
    world = radar.world
    radar.run_week(WEEKS[0])
    radar.control("POST", "users/demo_heavy/revoke")
    for week in WEEKS[1:]:
        radar.run_week(week)
    heavy = set(world.users["demo_heavy"].followed_artist_ids)
    shared = {a for a in heavy if any(a in world.users[u].followed_artist_ids
                                      for u in USERS if u != "demo_heavy")}
    fetches = radar.warehouse.scan(ARTIST_RELEASE_FETCHES).to_pylist()
    assert shared and {r["artist_id"] for r in fetches if r["week"] == WEEKS[1]} >= shared
    specs = (ARTIST_RELEASES, ARTIST_RELEASE_FETCHES)
    before = [radar.warehouse.scan(spec).to_pylist() for spec in specs]

    remove_user(radar.settings, "demo_heavy")
    shutil.rmtree(radar.settings.lake_dir)
    radar.settings.warehouse_path.unlink()
    assert rebuild(radar.settings, radar.instance).failed_runs == 0

    for spec, rows in zip(specs, before, strict=True):
        kept = [r for r in rows if r["artist_id"] not in heavy]
        assert kept and len(kept) < len(rows)
        assert sorted(radar.warehouse.scan(spec).to_pylist(), key=_row_key) == sorted(
            kept, key=_row_key)


def _row_key(row: dict) -> tuple[str, str, str]:
    return (str(row.get("week") or row.get("first_seen_week")), row["artist_id"],
            row.get("album_id") or "")


def test_a_429_in_the_middle_of_a_listing_loses_no_release(radar: Radar) -> None:
    world = radar.world
    week = WEEKS[-1]
    artists = followed(world)
    big = max(sorted(artists), key=lambda a: listing_size(world, a, tick(week)))
    assert listing_size(world, big, tick(week)) > 10, "needs an artist with two pages"
    radar.emulator.state.faults.add(FaultRule.from_json(
        {"path": f"/v1/artists/{big}/albums", "kind": "rate_limit", "retry_after": 1,
         "times": 1, "after": 1}))

    radar.run_week(week)

    assert radar.counts()[ALBUMS] == pages(world, artists, tick(week)) + 1
    assert set(radar_of(radar, week)) == set(radar_truth(world, week, [week]))
    lose_and_replay(radar.settings, RELEASE_TABLES)  # the 429 was retried: one body per page


def test_a_user_who_must_log_in_again_does_not_stop_the_others(radar: Radar) -> None:
    week = WEEKS[-1]
    radar.control("POST", "users/demo_tokyo/revoke")

    result = radar.run_week(week)

    [check] = result.get_asset_check_evaluations()
    tokyo = UserRegistry(radar.settings).require("demo_tokyo").handle
    assert not check.passed and tokyo in check.description
    assert "demo_tokyo" not in check.description
    got = radar_of(radar, week)
    others = [u for u in USERS if u != "demo_tokyo"]
    truth = radar_truth(radar.world, week, [week], users=others)
    assert set(got) == set(truth)
    assert UserRegistry(radar.settings).require("demo_tokyo").status == "needs_reauth"
    # The artists tokyo was asked for first came with another follower's token: their
    # receipts are that asker's.
    assert lose_and_replay(radar.settings, RELEASE_TABLES).receipts_replayed >= 2


@pytest.mark.parametrize("per_user", [3])
def test_top_played_artists_join_the_radar_when_set(radar: Radar, per_user: int) -> None:
    from spotify_assets.bench.musicbrainz import world_plays, write_plays

    world = radar.world
    week = WEEKS[-1]
    frame = world_plays(world)
    write_plays(radar.warehouse, frame)
    settings = radar.settings.model_copy(update={"radar_top_played_artists": per_user})

    radar.run_week(week, settings=settings)

    got = radar_of(radar, week)
    via_played = {(u, a) for (u, a), r in got.items() if "top_played" in r["matched_via"]}
    assert via_played, "some radar releases come from most played artists"
    for user, album_id in via_played:
        row = got[(user, album_id)]
        for artist, via in zip(row["matched_artist_ids"], row["matched_via"], strict=True):
            if via == "top_played":
                assert artist not in world.users[user].followed_artist_ids
                mine = frame[(frame.user_id == user) & (frame.started_at < tick(week))]
                assert artist in set(mine.artist_ids.str[0])
    # The top_played_by counts came from plays: the receipts keep them.
    assert any(r["top_played_by"] for r in radar.warehouse.scan(ARTIST_RELEASE_FETCHES)
               .to_pylist())
    lose_and_replay(radar.settings, RELEASE_TABLES)
