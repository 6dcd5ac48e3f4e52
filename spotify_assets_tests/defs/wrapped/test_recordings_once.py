"""A recording with two track ids (a lead single and its album track, one ISRC, as the emulator's
world releases them) counts once, in the monthly wrapped and in tops_from_plays.

One listener plays the single 3 times and the album track twice (5 plays of one song), and
another song 4 times, all of equal length. Counted by track id the other song would be #1 (4
plays against 3); counted by recording the song is #1 with 5 plays, shown as the single (its
most played id).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from spotify_assets.defs.resources import Warehouse
from spotify_assets.defs.tops.from_plays import tops_from_plays
from spotify_assets.defs.tops.tables import TOPS_FROM_PLAYS
from spotify_assets.defs.wrapped.monthly import monthly_wrapped
from spotify_assets.defs.wrapped.tables import MONTHLY_WRAPPED, MONTHLY_WRAPPED_TOPS
from spotify_assets.emulator.world import World
from spotify_assets.lib.settings import Settings
from spotify_assets.lib.users.registry import UserRegistry
from spotify_assets_tests.conftest import EMULATOR_TEST_CONFIG
from spotify_assets_tests.defs.wrapped.conftest import as_plays, materialize, write_plays

MS = 200_000


@pytest.fixture(scope="module")
def world() -> World:
    return World(EMULATOR_TEST_CONFIG)


def single_and_album_track(world: World) -> tuple[str, str]:
    """A lead single's track and the album track with its ISRC."""
    for track in sorted(world.tracks.values(), key=lambda t: t.id):
        if world.albums[track.album_id].album_type != "single":
            continue
        twins = [
            t for t in world.tracks.values()
            if t.isrc == track.isrc and world.albums[t.album_id].album_type == "album"
        ]
        if twins:
            return track.id, twins[0].id
    raise AssertionError("the world has no lead single sharing its ISRC")


def test_one_recording_with_two_track_ids_counts_once(
    settings: Settings, world: World
) -> None:
    import pandas as pd

    single, album = single_and_album_track(world)
    other = next(t for t in sorted(world.tracks) if world.tracks[t].isrc
                 != world.tracks[single].isrc)
    start = datetime(2026, 2, 10, 12, tzinfo=UTC)
    rows = []
    for n, track_id in enumerate([single] * 3 + [album] * 2 + [other] * 4):
        track = world.tracks[track_id]
        artist = world.artists[track.artist_ids[0]]
        ended = start + n * timedelta(minutes=5)
        rows.append({
            "user_id": "demo_heavy", "play_id": f"p{n}",
            "started_at": ended - timedelta(milliseconds=MS), "ended_at": ended,
            "ms_played": MS, "track_id": track.id, "track_name": track.name,
            "artist_id": artist.id, "artist_name": artist.name,
            "all_artist_ids": list(track.artist_ids), "album_id": track.album_id,
            "album_name": world.albums[track.album_id].name, "isrc": track.isrc,
            "duration_ms": track.duration_ms, "skipped": False, "shuffle": False,
        })
    truth = pd.DataFrame(rows)
    truth["started_at"] = pd.to_datetime(truth["started_at"], utc=True)
    truth["ended_at"] = pd.to_datetime(truth["ended_at"], utc=True)
    warehouse = Warehouse(settings)
    # Both versions were polled: the ISRC groups them (their names are the same too).
    write_plays(warehouse, as_plays(truth, polled_since=start - timedelta(days=1)))
    UserRegistry(settings).enroll("demo_heavy", "Heavy", "unused", timezone="UTC")

    materialize(settings, [monthly_wrapped], partition_key="2026-02-01")
    materialize(settings, [tops_from_plays], partition_key="2026-02-10")

    tops = warehouse.scan(MONTHLY_WRAPPED_TOPS, "entity = 'track'").to_pylist()
    first = min(tops, key=lambda r: r["rank"])
    assert (first["entity_key"], first["plays"]) == (f"isrc:{world.tracks[single].isrc}", 5)
    assert first["spotify_id"] == single
    assert first["minutes"] == pytest.approx(5 * MS / 60000)
    assert len(tops) == 2
    [summary] = warehouse.scan(MONTHLY_WRAPPED).to_pylist()
    assert (summary["distinct_tracks"], summary["top_track_plays"]) == (2, 5)
    assert summary["top_track_id"] == single

    from_plays = warehouse.scan(
        TOPS_FROM_PLAYS, "entity = 'track' and time_range = 'this_month' and metric = 'plays'"
    ).to_pylist()
    assert [(r["entity_id"], r["plays"]) for r in sorted(from_plays, key=lambda r: r["rank"])] \
        == [(single, 5), (other, 4)]
    assert date(2026, 2, 10) == from_plays[0]["as_of_date"]
