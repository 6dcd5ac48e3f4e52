"""`top_items` (top_tracks + top_artists) against the running emulator: users enrolled through
the real login, real HTTP through the real client, real Dagster runs writing real Parquet.

Covers: snapshots equal the world's true top lists, 6 requests per user, the cooldown (zero
requests, snapshot kept), force by tag and by config, one user's failure isolated, past days
never fetched, a range run pulling once. Not covered here: rank movement and albums (their own
files), the schedule's timing.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from spotify_assets.defs.tops.common import partitions_of_day
from spotify_assets.defs.tops.snapshots import FORCE_TAG, top_items
from spotify_assets.defs.tops.tables import TIME_RANGES, TOP_ARTISTS, TOP_TRACKS
from spotify_assets.lib import catalog
from spotify_assets.lib.orchestrate import RANGE_END_TAG, RANGE_START_TAG
from spotify_assets_tests.defs.tops.conftest import (
    USERS,
    Enrolled,
    charted,
    metadata,
    shared_by_listeners,
    today,
)


def rows(enrolled: Enrolled, spec, day: str) -> list[dict]:
    table = enrolled.warehouse.scan(
        spec, partitions=partitions_of_day(enrolled.warehouse, spec, date.fromisoformat(day))
    )
    return sorted(table.to_pylist(), key=lambda r: (r["user_id"], r["time_range"], r["rank"]))


def ranked_ids(table_rows: list[dict], user: str, time_range: str, column: str) -> list[str]:
    picked = [r for r in table_rows if r["user_id"] == user and r["time_range"] == time_range]
    assert [r["rank"] for r in picked] == list(range(1, len(picked) + 1))
    return [r[column] for r in picked]


def file_bytes(enrolled: Enrolled, day: str) -> dict[str, bytes]:
    lake = enrolled.settings.lake_dir
    return {
        str(p.relative_to(lake)): p.read_bytes()
        for spec in (TOP_TRACKS, TOP_ARTISTS)
        for p in (lake / spec.name / day).glob("*.parquet")
    }


def test_snapshots_equal_the_emulator_lists_with_six_requests_per_user(
    enrolled: Enrolled, emu
) -> None:
    result = enrolled.materialize([top_items], today())

    assert result.success
    assert enrolled.top_requests() == 6 * len(USERS)
    raw = enrolled.settings.raw_dir / "spotify_me_top_type"
    for uid in USERS:
        # Six distinct bodies landed per user: each user really made their own 6 requests.
        assert len(list((raw / uid).rglob("*.gz"))) == 6, uid
    world = emu.state.world
    tracks, artists = rows(enrolled, TOP_TRACKS, today()), rows(enrolled, TOP_ARTISTS, today())
    for uid in USERS:
        for time_range in TIME_RANGES:
            want_tracks = world.top(uid, "tracks", time_range)
            assert ranked_ids(tracks, uid, time_range, "track_id") == want_tracks
            assert ranked_ids(artists, uid, time_range, "artist_id") == world.top(
                uid, "artists", time_range
            )
    assert len(world.top("demo_light", "tracks", "short_term")) < 50  # a short list too
    for row in tracks:
        truth = world.tracks[row["track_id"]]
        album = world.albums[truth.album_id]
        assert row["track_name"] == truth.name
        assert row["artist_ids"] == list(truth.artist_ids)
        assert (row["album_id"], row["album_type"]) == (album.id, album.album_type)
        assert row["album_total_tracks"] == len(album.track_ids)
        assert row["isrc"] == truth.isrc
        assert row["duration_ms"] == truth.duration_ms
        assert row["popularity"] is None  # development mode
    for row in artists:
        assert row["artist_name"] == world.artists[row["artist_id"]].name
        assert row["genres"] is None and row["popularity"] is None
    # The asset pages chart what listeners share, never one listener's own list.
    def track_label(track_id: str) -> str:
        track = world.tracks[track_id]
        return f"{track.name} — {world.artists[track.artist_ids[0]].name}"

    tracks_by_user = {
        uid: [track_label(t) for t in world.top(uid, "tracks", "short_term")] for uid in USERS
    }
    artists_by_user = {
        uid: [world.artists[a].name for a in world.top(uid, "artists", "short_term")]
        for uid in USERS
    }
    assert charted(metadata(result, "top_tracks")["top10"]) == shared_by_listeners(tracks_by_user)
    assert charted(metadata(result, "top_artists")["top10"]) == shared_by_listeners(
        artists_by_user
    )
    assert shared_by_listeners(artists_by_user)  # the world's listeners do share some


def test_rematerializing_inside_the_cooldown_makes_no_requests(enrolled: Enrolled) -> None:
    assert enrolled.materialize([top_items], today()).success
    before = file_bytes(enrolled, today())
    enrolled.reset_requests()

    again = enrolled.materialize([top_items], today())

    assert again.success
    assert enrolled.top_requests() == 0
    assert file_bytes(enrolled, today()) == before  # the snapshot was kept, not rewritten
    # ...and read back from the lake for the metadata.
    assert metadata(again, "top_tracks")["dagster/row_count"] == len(
        rows(enrolled, TOP_TRACKS, today())
    )
    assert charted(metadata(again, "top_tracks")["top10"])


@pytest.mark.parametrize(
    "how",
    [
        {"tags": {FORCE_TAG: "true"}},
        {"run_config": {"ops": {"top_items": {"config": {"force": True}}}}},
        {"run_config": {"ops": {"top_items": {"config": {"cooldown_hours": 0}}}}},
    ],
    ids=["force-tag", "force-config", "cooldown-0h"],
)
def test_forcing_takes_a_new_snapshot_inside_the_cooldown(enrolled: Enrolled, how) -> None:
    assert enrolled.materialize([top_items], today()).success
    first = {r["user_id"]: r["fetched_at"] for r in rows(enrolled, TOP_TRACKS, today())}
    enrolled.reset_requests()

    assert enrolled.materialize([top_items], today(), **how).success

    # Fetched again (6 lists per user); under the pinned clock of the same world the lists
    # and their fetched_at are what they were.
    assert enrolled.top_requests() == 6 * len(USERS)
    later = {r["user_id"]: r["fetched_at"] for r in rows(enrolled, TOP_TRACKS, today())}
    assert later == first


def test_one_users_failure_never_stops_the_others(enrolled: Enrolled) -> None:
    assert enrolled.materialize([top_items], today()).success
    kept = {k: v for k, v in file_bytes(enrolled, today()).items() if "demo_heavy" not in k}
    enrolled.control("POST", "users/demo_tokyo/revoke")
    enrolled.control(
        "POST", "faults", {"path": "/v1/me/top/*", "kind": "quota", "user": "demo_light"}
    )
    enrolled.reset_requests()

    result = enrolled.materialize([top_items], today(), tags={FORCE_TAG: "true"})

    assert result.success
    heavy = [r for r in rows(enrolled, TOP_TRACKS, today()) if r["user_id"] == "demo_heavy"]
    assert heavy and enrolled.top_requests() >= 6
    # The failing users' earlier snapshots are untouched.
    now = file_bytes(enrolled, today())
    assert {k: now[k] for k in kept} == kept
    users_md = metadata(result, "top_tracks")["users"]
    handle = {u: enrolled.registry.require(u).handle for u in USERS}
    assert f"| {handle['demo_tokyo']} | needs_reauth |" in users_md
    assert f"| {handle['demo_light']} | deferred |" in users_md
    assert f"| {handle['demo_heavy']} | fetched |" in users_md
    assert not any(u in users_md for u in USERS)  # by handle: run history outlives a user
    (check,) = result.get_asset_check_evaluations()
    assert not check.passed
    assert handle["demo_tokyo"] in check.description and handle["demo_light"] in check.description
    assert enrolled.registry.require("demo_tokyo").status == "needs_reauth"


def test_past_days_are_never_fetched(enrolled: Enrolled) -> None:
    day = (date.fromisoformat(today()) - timedelta(days=2)).isoformat()

    result = enrolled.materialize([top_items], day, tags={FORCE_TAG: "true"})

    assert result.success
    assert enrolled.top_requests() == 0
    assert rows(enrolled, TOP_TRACKS, day) == []
    heavy = enrolled.registry.require("demo_heavy").handle
    assert f"| {heavy} | past |" in metadata(result, "top_tracks")["users"]


def test_a_range_run_pulls_once_and_files_the_same_lists_under_each_fetchable_day(
    enrolled: Enrolled,
) -> None:
    last = date.fromisoformat(today())
    first = (last - timedelta(days=3)).isoformat()
    yesterday = (last - timedelta(days=1)).isoformat()

    result = enrolled.materialize(
        [top_items], tags={RANGE_START_TAG: first, RANGE_END_TAG: last.isoformat()}
    )

    assert result.success
    assert enrolled.top_requests() == 6 * len(USERS)
    newest = rows(enrolled, TOP_TRACKS, last.isoformat())
    copied = rows(enrolled, TOP_TRACKS, yesterday)
    assert newest and [{**r, "snapshot_date": None} for r in copied] == [
        {**r, "snapshot_date": None} for r in newest
    ]
    assert {r["snapshot_date"].isoformat() for r in copied} == {yesterday}
    assert rows(enrolled, TOP_TRACKS, first) == []  # too old to be fetched
    assert metadata(result, "top_tracks")["rows_by_day"][first] == 0


def test_current_views_hold_each_users_latest_snapshot(enrolled: Enrolled) -> None:
    last = date.fromisoformat(today())
    yesterday = (last - timedelta(days=1)).isoformat()
    tags = {RANGE_START_TAG: yesterday, RANGE_END_TAG: last.isoformat()}
    assert enrolled.materialize([top_items], tags=tags).success
    # demo_light's newest snapshot is yesterday's: today's file never existed.
    for spec in (TOP_TRACKS, TOP_ARTISTS):
        enrolled.warehouse.lake.delete_partitions(spec.name, [f"{last.isoformat()}/demo_light"])
    enrolled.warehouse.publish()

    con = catalog.connect(enrolled.settings.warehouse_path)
    try:
        for view, table in (
            ("top_tracks_current", "top_tracks"),
            ("top_artists_current", "top_artists"),
        ):
            got = con.sql(
                f"select user_id, max(snapshot_date), min(snapshot_date), count(*) from {view} "
                "group by all order by 1"
            ).fetchall()
            want = con.sql(
                f"select user_id, snapshot_date, snapshot_date, count(*) from {table} "
                "where snapshot_date = case when user_id = 'demo_light' then ? else ? end "
                "group by all order by 1",
                params=[date.fromisoformat(yesterday), last],
            ).fetchall()
            assert got == want and len(got) == len(USERS)
    finally:
        con.close()
