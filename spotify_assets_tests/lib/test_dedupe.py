"""The merge rule against the emulator world's ground truth, without HTTP.

Each demo user's export files (the emulator renders them in Spotify's real formats) go through
the real export parser; polling is simulated from the world's own plays the way Spotify's
recently-played answers (tracks >= 30 s, `played_at` = stop to the ms), overlapping the exports.
The merged plays must be exactly the world's plays of >= 30 s: none lost, none doubled.
"""

from datetime import UTC, datetime, timedelta

import pandas as pd
import pyarrow as pa
import pytest

from spotify_assets.defs.listening.tables import POLLED_PLAYS
from spotify_assets.emulator.world import World, WorldConfig
from spotify_assets.lib.dedupe import MIN_PLAY_MS, merge_plays
from spotify_assets.lib.exports import ExportFile, parse_export_file

END = datetime(2026, 3, 10, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def world() -> World:
    return World(WorldConfig(seed=11, end=END, days=6, n_tracks=400, n_artists=60))


def exported(world: World, user_id: str) -> pd.DataFrame:
    tables = [
        parse_export_file(user_id, ExportFile.from_bytes(name, body)).observations
        for name, body in sorted(world.export_files(user_id).items())
    ]
    return pa.concat_tables(tables).to_pandas()


def polled(world: World, user_id: str, since: datetime) -> pd.DataFrame:
    rows = []
    for play in world.plays(user_id):
        if play.kind != "track" or play.ms_played < MIN_PLAY_MS or play.ended_at < since:
            continue
        track = world.tracks[play.item_id]
        album = world.albums[track.album_id]
        rows.append(
            {
                "user_id": user_id,
                "played_at": play.ended_at,
                "track_id": track.id,
                "track_uri": f"spotify:track:{track.id}",
                "track_name": track.name,
                "artist_names": [world.artists[a].name for a in track.artist_ids],
                "artist_ids": list(track.artist_ids),
                "album_id": album.id,
                "album_name": album.name,
                "album_type": album.album_type,
                "duration_ms": track.duration_ms,
                "isrc": track.isrc,
                "explicit": track.explicit,
                "context_type": None,
                "context_uri": play.context_uri,
                "polled_at": END,
            }
        )
    frame = pd.DataFrame.from_records(rows, columns=POLLED_PLAYS.column_names)
    frame["played_at"] = pd.to_datetime(frame["played_at"], utc=True)
    return frame


def truth(world: World, user_id: str) -> list[tuple[str, int]]:
    return sorted(
        (p.item_id, int(p.ended_at.timestamp()))
        for p in world.plays(user_id)
        if p.kind == "track" and p.ms_played >= MIN_PLAY_MS
    )


@pytest.mark.parametrize(
    "user_id", ["demo_heavy", "demo_skipper", "demo_tokyo", "demo_podcast", "demo_light"]
)
def test_exports_plus_polling_equal_ground_truth(world: World, user_id: str) -> None:
    # Polling overlaps the exports by a day, so every export play near the end is seen twice.
    export_end = END - timedelta(hours=world.config.export_end_offset_hours)
    since = export_end - timedelta(days=1)
    plays = merge_plays(exported(world, user_id), polled(world, user_id, since))
    got = sorted(
        (tid, int(ts.timestamp()))
        for tid, ts in zip(plays["track_id"], plays["ended_at"], strict=True)
    )
    assert got == truth(world, user_id)
    assert plays["play_id"].is_unique
    both = plays["sources"].map(lambda s: "poll" in s and len(s) > 1).sum()
    overlap = sum(
        1
        for p in world.plays(user_id)
        if p.kind == "track" and p.ms_played >= MIN_PLAY_MS and since <= p.ended_at < export_end
    )
    assert both == overlap  # the overlap really was matched, not just unioned


def test_exact_minutes_where_exports_cover(world: World) -> None:
    user_id = "demo_heavy"
    plays = merge_plays(exported(world, user_id), polled(world, user_id, END))
    export_end = END - timedelta(hours=world.config.export_end_offset_hours)
    expected = sum(
        p.ms_played
        for p in world.plays(user_id)
        if p.kind == "track" and p.ms_played >= MIN_PLAY_MS and p.ended_at < export_end
    )
    assert expected > 0
    assert int(plays["listened_ms"].sum()) == expected
    assert not plays["listened_ms_estimated"].any()


def test_polled_only_plays_get_an_estimate_capped_by_the_previous_play(world: World) -> None:
    user_id = "demo_skipper"
    empty = exported(world, user_id).iloc[0:0]
    plays = merge_plays(empty, polled(world, user_id, END - timedelta(days=2)))
    assert plays["listened_ms_estimated"].all()
    gaps = plays.groupby("user_id")["ended_at"].diff().dt.total_seconds() * 1000
    capped = plays["listened_ms"] <= gaps.fillna(float("inf"))
    assert capped.all()
    assert (plays["listened_ms"] >= MIN_PLAY_MS).all()


def test_importing_the_same_export_twice_adds_nothing(world: World) -> None:
    user_id = "demo_light"
    once = exported(world, user_id)
    twice = pd.concat([once, once], ignore_index=True)
    empty = polled(world, user_id, END + timedelta(days=1))
    assert len(merge_plays(twice, empty)) == len(merge_plays(once, empty))


def test_no_input_means_no_plays(world: World) -> None:
    empty_export = exported(world, "demo_light").iloc[0:0]
    empty_poll = polled(world, "demo_light", END + timedelta(days=1))
    assert merge_plays(empty_export, empty_poll).empty


def test_play_ids_are_sha1_of_user_second_and_key() -> None:
    import hashlib

    from spotify_assets.lib.dedupe import play_ids

    users = pd.Series(["alice", "bob", "alice"])
    ended = pd.Series(
        pd.to_datetime(
            ["2026-01-05T10:00:00.999Z", "1999-12-31T23:59:59Z", "2026-01-05T10:00:01Z"],
            format="ISO8601",
        )
    ).astype("datetime64[ms, UTC]")
    keys = pd.Series(["abc\tdef", "ünï\tcödé", "abc\tdef"])
    expected = [
        hashlib.sha1(f"{u}|{int(e.timestamp())}|{k}".encode()).hexdigest()[:16]
        for u, e, k in zip(users, ended, keys, strict=True)
    ]
    assert list(play_ids(users, ended, keys)) == expected
    assert expected[0] != expected[2]


def test_days_touched_are_the_start_and_stop_days() -> None:
    from spotify_assets.lib.dedupe import days_touched

    ended = pa.chunked_array(
        [
            pa.array(
                pd.to_datetime(
                    ["2026-01-05T00:00:10Z", "2026-02-01T12:00:00Z", None, "2025-12-31T23:59:59Z"],
                    format="ISO8601",
                    utc=True,
                ),
                pa.timestamp("us", "UTC"),
            ),
            # A second chunk, as a parsed export's columns have: a day's start before 1970
            # floors, not truncates.
            pa.array([datetime(1969, 12, 31, 23, 0, tzinfo=UTC)], pa.timestamp("us", "UTC")),
        ]
    )
    # The first one started on Jan 4; a null ms_played counts as 0.
    played = pa.chunked_array([pa.array([60_000, 1_000, 5_000, None]), pa.array([3_000])])
    assert days_touched(ended, played) == {
        "2026-01-04",
        "2026-01-05",
        "2026-02-01",
        "2025-12-31",
        "1969-12-31",
    }
