"""`top_albums` from real emulator snapshots, in development mode (no popularity: rank-based
fallback) and with the extended-quota switch on (popularity), each checked against a
plain-Python derivation from the world's true top lists and catalogue."""

from __future__ import annotations

from collections import defaultdict

import pytest

from spotify_assets.defs.tops.albums import top_albums
from spotify_assets.defs.tops.snapshots import FORCE_TAG, top_items
from spotify_assets.defs.tops.tables import TIME_RANGES, TOP_ALBUMS
from spotify_assets_tests.defs.tops.conftest import (
    USERS,
    Enrolled,
    charted,
    metadata,
    shared_by_listeners,
    today,
)


def expected_albums(world, user: str, time_range: str, by_popularity: bool) -> list[tuple]:
    """(album_id, score, track ranks) of the top 5 albums, worked out from the world."""
    ranks: dict[str, list[int]] = defaultdict(list)
    for rank, track_id in enumerate(world.top(user, "tracks", time_range), start=1):
        ranks[world.tracks[track_id].album_id].append(rank)
    scored = []
    for album_id, album_ranks in ranks.items():
        if world.albums[album_id].album_type == "single" or len(album_ranks) < 2:
            continue
        tracks = [world.top(user, "tracks", time_range)[r - 1] for r in album_ranks]
        if by_popularity:
            score = sum(world.tracks[t].popularity for t in tracks)
        else:
            score = sum(51 - r for r in album_ranks)
        scored.append((album_id, float(score), album_ranks))
    scored.sort(key=lambda a: (-a[1], min(a[2]), a[0]))
    return scored[:5]


def table_albums(enrolled: Enrolled, user: str, time_range: str) -> list[tuple]:
    rows = enrolled.warehouse.lake.read(TOP_ALBUMS.name, today()).to_pylist()
    picked = [r for r in rows if r["user_id"] == user and r["time_range"] == time_range]
    assert [r["rank"] for r in picked] == list(range(1, len(picked) + 1))
    return [(r["album_id"], r["score"], r["track_ranks"]) for r in picked]


@pytest.mark.parametrize("extended", [False, True], ids=["dev-mode", "extended-quota"])
def test_albums_scored_by_popularity_only_with_extended_quota(
    enrolled: Enrolled, emu, extended: bool
) -> None:
    enrolled.control("POST", "mode", {"extended_quota": extended})

    result = enrolled.materialize([top_items, top_albums], today(), tags={FORCE_TAG: "true"})

    assert result.success
    rows = enrolled.warehouse.lake.read(TOP_ALBUMS.name, today()).to_pylist()
    want_scoring = "popularity" if extended else "rank_fallback"
    assert rows and {r["scoring"] for r in rows} == {want_scoring}
    assert all(r["album_type"] != "single" and r["tracks_in_list"] >= 2 for r in rows)
    world = emu.state.world
    for user in USERS:
        for time_range in TIME_RANGES:
            got = table_albums(enrolled, user, time_range)
            assert got == expected_albums(world, user, time_range, by_popularity=extended)
    # The world has singles with 2+ tracks in these lists: skipping them is really tested.
    assert any(
        world.albums[world.tracks[t].album_id].album_type == "single"
        and sum(
            world.tracks[u].album_id == world.tracks[t].album_id
            for u in world.top("demo_heavy", "tracks", "short_term")
        )
        >= 2
        for t in world.top("demo_heavy", "tracks", "short_term")
    )
    md = metadata(result, "top_albums")
    assert md["scoring"] == {want_scoring: len(rows)}
    # The page charts the albums listeners share in their short-term tops, nobody's own list.
    lists = {
        user: [
            world.albums[a[0]].name
            for a in expected_albums(world, user, "short_term", extended)
        ]
        for user in USERS
    }
    assert charted(md["top10"]) == shared_by_listeners(lists)
