"""Rank movement (`top_tracks_movement`, `top_artists_movement`) with real Dagster runs.

The emulator's top lists do not change with its clock, so consecutive snapshots with known
changes are written straight into the `top_tracks` lake table (hand-made lists whose movement
is worked out below by hand), and once on top of a real emulator snapshot (yesterday = today's
real list with a few known edits, checked against a plain-Python comparison).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from spotify_assets.defs.resources import Warehouse
from spotify_assets.defs.tops.movement import top_artists_movement, top_tracks_movement
from spotify_assets.defs.tops.snapshots import top_items
from spotify_assets.defs.tops.tables import (
    TOP_ARTISTS_MOVEMENT,
    TOP_TRACKS,
    TOP_TRACKS_MOVEMENT,
)
from spotify_assets.lib.orchestrate import RANGE_END_TAG, RANGE_START_TAG
from spotify_assets_tests.defs.tops.conftest import Enrolled, metadata, today

D0, D1, D3, D4 = (date(2026, 3, d) for d in (1, 2, 4, 5))  # no snapshot on March 3rd
FETCHED = datetime(2026, 3, 1, 6, tzinfo=UTC)


def write_snapshot(warehouse: Warehouse, day: date, user: str, lists: dict[str, list[str]]) -> None:
    rows = [
        {
            "user_id": user,
            "snapshot_date": day,
            "time_range": time_range,
            "rank": rank,
            "track_id": track,
            "track_name": f"Song {track}",
            "artist_ids": ["ar1"],
            "artist_names": ["Someone"],
            "album_id": "al1",
            "album_name": "An Album",
            "album_type": "album",
            "album_total_tracks": 10,
            "album_release_date": "2020-01-01",
            "album_artist_names": ["Someone"],
            "duration_ms": 200_000,
            "explicit": False,
            "isrc": None,
            "popularity": None,
            "fetched_at": FETCHED,
        }
        for time_range, tracks in lists.items()
        for rank, track in enumerate(tracks, start=1)
    ]
    warehouse.write(TOP_TRACKS, rows, f"{day.isoformat()}/{user}")


def movement(warehouse: Warehouse, day: date, user: str, time_range: str) -> list[tuple]:
    table = warehouse.lake.read(TOP_TRACKS_MOVEMENT.name, day.isoformat()).to_pylist()
    return [
        (
            r["track_id"],
            r["rank"],
            r["previous_rank"],
            r["movement"],
            r["rank_change"],
            r["days_at_1"],
        )
        for r in table
        if r["user_id"] == user and r["time_range"] == time_range
    ]


def previous_dates(warehouse: Warehouse, day: date, user: str) -> set[date | None]:
    table = warehouse.lake.read(TOP_TRACKS_MOVEMENT.name, day.isoformat()).to_pylist()
    return {r["previous_snapshot_date"] for r in table if r["user_id"] == user}


@pytest.fixture
def history(emu_settings) -> Enrolled:
    enrolled = Enrolled(emu_settings, None, (), "")  # no HTTP: the lists are written directly
    w = enrolled.warehouse
    write_snapshot(w, D0, "u1", {"short_term": list("ABCD"), "medium_term": list("AB")})
    write_snapshot(w, D1, "u1", {"short_term": list("ACBE"), "medium_term": list("BA")})
    write_snapshot(w, D3, "u1", {"short_term": list("BACF"), "medium_term": list("AB")})
    write_snapshot(w, D4, "u1", {"short_term": list("BACF"), "medium_term": list("AB")})
    write_snapshot(w, D3, "u2", {"short_term": list("XY")})
    return enrolled


def test_movement_against_the_previous_existing_snapshot(history: Enrolled) -> None:
    tags = {RANGE_START_TAG: D0.isoformat(), RANGE_END_TAG: D4.isoformat()}
    result = history.materialize([top_tracks_movement], tags=tags)

    assert result.success
    w = history.warehouse
    assert movement(w, D0, "u1", "short_term") == [
        ("A", 1, None, "new", None, 1),
        ("B", 2, None, "new", None, 0),
        ("C", 3, None, "new", None, 0),
        ("D", 4, None, "new", None, 0),
    ]
    assert previous_dates(w, D0, "u1") == {None}
    assert movement(w, D1, "u1", "short_term") == [
        ("A", 1, 1, "same", 0, 2),
        ("C", 2, 3, "up", 1, 0),
        ("B", 3, 2, "down", -1, 0),
        ("E", 4, None, "new", None, 0),
        ("D", None, 4, "dropped", None, 0),
    ]
    # March 3rd has no snapshot: March 4th compares with March 2nd.
    assert previous_dates(w, D3, "u1") == {D1}
    assert movement(w, D3, "u1", "short_term") == [
        ("B", 1, 3, "up", 2, 1),
        ("A", 2, 1, "down", -1, 0),
        ("C", 3, 2, "down", -1, 0),
        ("F", 4, None, "new", None, 0),
        ("E", None, 4, "dropped", None, 0),
    ]
    assert movement(w, D4, "u1", "short_term") == [
        ("B", 1, 1, "same", 0, 2),
        ("A", 2, 2, "same", 0, 0),
        ("C", 3, 3, "same", 0, 0),
        ("F", 4, 4, "same", 0, 0),
    ]
    # A was #1, then B, then A again: the streak restarts.
    assert movement(w, D3, "u1", "medium_term") == [
        ("A", 1, 2, "up", 1, 1),
        ("B", 2, 1, "down", -1, 0),
    ]
    assert movement(w, D4, "u1", "medium_term")[0] == ("A", 1, 1, "same", 0, 2)
    # u2's first snapshot: everything is new, there is nothing to compare with.
    assert movement(w, D3, "u2", "short_term") == [
        ("X", 1, None, "new", None, 1),
        ("Y", 2, None, "new", None, 0),
    ]
    assert previous_dates(w, D3, "u2") == {None}
    assert movement(w, date(2026, 3, 3), "u1", "short_term") == []
    counts = metadata(result, "top_tracks_movement")["movement_counts"]
    assert counts and set(counts) <= {"new", "up", "down", "same"}


def python_movement(previous: list[str], current: list[str]) -> list[tuple]:
    """The expected movement of one list, the obvious way."""
    out = []
    for rank, item in enumerate(current, start=1):
        if item not in previous:
            out.append((item, rank, None, "new", None))
            continue
        before = previous.index(item) + 1
        kind = "up" if before > rank else "down" if before < rank else "same"
        out.append((item, rank, before, kind, before - rank))
    dropped = [(item, None, previous.index(item) + 1, "dropped", None) for item in previous]
    out += sorted((d for d in dropped if d[0] not in current), key=lambda d: d[2])
    return out


def test_movement_of_real_snapshots_with_a_known_change(enrolled: Enrolled, emu) -> None:
    day = date.fromisoformat(today())
    assert enrolled.materialize([top_items], day.isoformat()).success
    first = enrolled.materialize([top_tracks_movement, top_artists_movement], day.isoformat())
    assert first.success
    artists = enrolled.warehouse.lake.read(TOP_ARTISTS_MOVEMENT.name, day.isoformat())
    assert set(artists.column("movement").to_pylist()) == {"new"}  # nothing before today

    world = emu.state.world
    current = world.top("demo_heavy", "tracks", "short_term")
    # Yesterday: #1 and #2 swapped, #5 absent (new today), an outsider at #4 (dropped today),
    # and the list cut at 40 (ranks 41..50 are new today).
    outsider = next(t for t in sorted(world.tracks) if t not in current)
    previous = [current[1], current[0], current[2], outsider, *current[5:40]]
    lists = {"short_term": previous}
    write_snapshot(enrolled.warehouse, day - timedelta(days=1), "demo_heavy", lists)

    assert enrolled.materialize([top_tracks_movement], day.isoformat()).success

    got = movement(enrolled.warehouse, day, "demo_heavy", "short_term")
    assert [g[:5] for g in got] == python_movement(previous, current)
    assert got[0][5] == 1  # yesterday's #1 was another track
    assert {r[3] for r in movement(enrolled.warehouse, day, "demo_tokyo", "short_term")} == {"new"}
