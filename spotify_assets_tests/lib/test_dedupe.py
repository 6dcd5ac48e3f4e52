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
from spotify_assets.lib.dedupe import MIN_PLAY_MS, PLAY_COLUMNS, merge_plays
from spotify_assets.lib.exports import ExportFile, parse_export_file
from spotify_assets.lib.lake.spec import conform

END = datetime(2026, 3, 10, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def world() -> World:
    return World(WorldConfig(seed=11, end=END, days=6, n_tracks=400, n_artists=60))


def exported(world: World, user_id: str) -> pa.Table:
    tables = [
        parse_export_file(user_id, ExportFile.from_bytes(name, body)).observations
        for name, body in sorted(world.export_files(user_id).items())
    ]
    return pa.concat_tables(tables)


def polled(world: World, user_id: str, since: datetime) -> pa.Table:
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
    return conform(POLLED_PLAYS, rows)


def merged(exports: pa.Table, polls: pa.Table) -> pd.DataFrame:
    return merge_plays(exports, polls).to_pandas()


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
    plays = merged(exported(world, user_id), polled(world, user_id, since))
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
    plays = merged(exported(world, user_id), polled(world, user_id, END))
    export_end = END - timedelta(hours=world.config.export_end_offset_hours)
    expected = sum(
        p.ms_played
        for p in world.plays(user_id)
        if p.kind == "track" and p.ms_played >= MIN_PLAY_MS and p.ended_at < export_end
    )
    assert expected > 0
    assert int(plays["listened_ms"].sum()) == expected
    assert not plays["listened_ms_estimated"].any()


@pytest.mark.parametrize("user_id", ["demo_skipper", "demo_heavy"])
def test_polled_only_plays_get_an_estimate_capped_by_the_previous_play(
    world: World, user_id: str
) -> None:
    empty = exported(world, user_id).slice(0, 0)
    plays = merged(empty, polled(world, user_id, END - timedelta(days=2)))
    assert plays["listened_ms_estimated"].all()
    gaps = plays.groupby("user_id")["ended_at"].diff() / pd.Timedelta(milliseconds=1)
    capped = plays["listened_ms"] <= gaps.fillna(float("inf"))
    assert capped.all()
    assert (plays["listened_ms"] >= MIN_PLAY_MS).all()
    # Where the gap was the cap, the play starts exactly when the previous one stopped (to
    # the ms: the gap was once a float and lost a millisecond in 3 of demo_heavy's 446 plays).
    previous_end = plays.groupby("user_id")["ended_at"].shift(1)
    cut = (plays["listened_ms"] < plays["duration_ms"]) & (plays["listened_ms"] > MIN_PLAY_MS)
    assert cut.sum() > 10
    assert (plays.loc[cut, "started_at"] == previous_end[cut]).all()


def test_importing_the_same_export_twice_adds_nothing(world: World) -> None:
    user_id = "demo_light"
    once = exported(world, user_id)
    twice = pa.concat_tables([once, once])
    empty = polled(world, user_id, END + timedelta(days=1))
    assert merge_plays(twice, empty).equals(merge_plays(once, empty))


def test_no_input_means_no_plays(world: World) -> None:
    empty_export = exported(world, "demo_light").slice(0, 0)
    empty_poll = polled(world, "demo_light", END + timedelta(days=1))
    plays = merge_plays(empty_export, empty_poll)
    assert plays.num_rows == 0
    assert plays.column_names == PLAY_COLUMNS


def test_play_ids_are_sha1_of_user_second_and_key() -> None:
    import hashlib

    stops = [
        datetime(2026, 1, 5, 10, 0, 0, 999_000, tzinfo=UTC),
        datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC),
        datetime(2026, 1, 5, 10, 0, 1, tzinfo=UTC),
    ]
    names = [("ABC", "Def"), ("ÜNÏ", "Cödé"), ("ABC", "Def")]
    polls = conform(
        POLLED_PLAYS,
        [
            {"user_id": user, "played_at": stop, "track_id": f"t{n}", "track_name": title,
             "artist_names": [artist], "artist_ids": ["a"], "duration_ms": 200_000}
            for n, (user, stop, (artist, title)) in enumerate(
                zip(["alice", "bob", "alice"], stops, names, strict=True)
            )
        ],
    )  # fmt: skip
    plays = merge_plays(exported_columns_empty(), polls).sort_by("ended_at").to_pylist()
    keys = ["abc\tdef", "ünï\tcödé", "abc\tdef"]
    expected = {
        hashlib.sha1(f"{u}|{int(e.timestamp())}|{k}".encode()).hexdigest()[:16]
        for u, e, k in zip(["alice", "bob", "alice"], stops, keys, strict=True)
    }
    assert {p["play_id"] for p in plays} == expected
    assert len(expected) == 3


def exported_columns_empty() -> pa.Table:
    from spotify_assets.lib.exports.schema import OBSERVATION_SCHEMA

    return OBSERVATION_SCHEMA.empty_table()


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


def test_days_are_utc_days_on_a_machine_in_another_timezone() -> None:
    # DuckDB casts and truncates times in the process's time zone unless told otherwise.
    import os
    import subprocess
    import sys

    script = """
from datetime import UTC, datetime
from spotify_assets.defs.listening.tables import POLLED_PLAYS
from spotify_assets.lib.dedupe import merge_plays
from spotify_assets.lib.exports.schema import OBSERVATION_SCHEMA
from spotify_assets.lib.lake.spec import conform
stop = datetime(2026, 1, 1, 23, 50, tzinfo=UTC)
polls = conform(POLLED_PLAYS, [{"user_id": "u", "played_at": stop, "track_id": "t",
    "track_name": "T", "artist_names": ["A"], "artist_ids": ["a"], "duration_ms": 200_000}])
print(merge_plays(OBSERVATION_SCHEMA.empty_table(), polls)["day"][0])
"""
    env = {**os.environ, "TZ": "Asia/Tokyo"}
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "2026-01-01"
