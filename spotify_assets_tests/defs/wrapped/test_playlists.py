"""The opt-in wrapped playlist against the emulator: two runs of the month's final tick make one
playlist per opted-in user and none for the others (the emulator's record of what was
created); a lost answer on the create, a 429 and a lost answer on the add are retried without a
second playlist or a duplicate track; a re-run asks nothing."""

from __future__ import annotations

import dagster as dg
import httpx

from spotify_assets.defs.resources import Warehouse
from spotify_assets.defs.wrapped.common import user_partition
from spotify_assets.defs.wrapped.playlists import (
    OPT_IN,
    PLAYLIST_TRACKS,
    playlist_marker,
    playlist_name,
)
from spotify_assets.defs.wrapped.tables import MONTHLY_WRAPPED_PLAYLISTS, MONTHLY_WRAPPED_TOPS
from spotify_assets.emulator.server import EmulatorHandle
from spotify_assets.lib.settings import Settings
from spotify_assets.lib.users.registry import UserRegistry
from spotify_assets_tests.defs.wrapped.conftest import MONTH, TICK, USERS, metadata, run_tick

OPTED = ("demo_heavy", "demo_tokyo")
FAULTY = "demo_tokyo"
FINAL = TICK.replace(hour=12, minute=30)


def made(emu: EmulatorHandle, user: str) -> list[dict]:
    listed = httpx.get(f"{emu.base_url}/_emulator/playlists", params={"user": user}).json()
    return [p for p in listed if p["name"] == playlist_name(MONTH)
            and playlist_marker(MONTH) in (p["description"] or "")]


def wanted(warehouse: Warehouse, user: str) -> list[str]:
    """The month's top tracks by rank, as its tops table has them (its correctness is
    test_plays_part's): each recording's most played id."""
    rows = warehouse.scan(MONTHLY_WRAPPED_TOPS, "user_id = ? and entity = 'track'", [user],
                          [MONTH.isoformat()]).to_pylist()
    return [f"spotify:track:{r['spotify_id']}" for r in sorted(rows, key=lambda r: r["rank"])
            ][:PLAYLIST_TRACKS]


def test_two_runs_make_one_playlist_per_opted_in_user_despite_failures(
    emu: EmulatorHandle, enrolled: Settings
) -> None:
    registry = UserRegistry(enrolled)
    for user in OPTED:
        registry.opt_in(user, OPT_IN)
    before = {u: len(made(emu, u)) for u in USERS}
    rules = [
        {"path": "/v1/me/playlists", "kind": "lost_answer", "status": 500, "times": 1,
         "user": FAULTY},
        {"path": "/v1/playlists/*/items", "kind": "rate_limit", "retry_after": 1, "times": 1,
         "user": FAULTY},
        {"path": "/v1/playlists/*/items", "kind": "lost_answer", "status": 502, "times": 1,
         "user": FAULTY},
    ]
    httpx.post(f"{emu.base_url}/_emulator/faults", json={"rules": rules}).raise_for_status()
    warehouse = Warehouse(enrolled)

    with dg.instance_for_test() as instance:
        first = run_tick(enrolled, FINAL, instance)
        hits = [r["hits"] for r in httpx.get(f"{emu.base_url}/_emulator/faults").json()["rules"]]
        emu.state.reset_request_counts()
        second = run_tick(enrolled, FINAL, instance)

    assert hits == [1, 1, 1]  # every failure happened
    for user in USERS:
        mine = made(emu, user)
        if user not in OPTED:
            assert len(mine) == before[user] == 0
            assert not warehouse.has_partition(
                MONTHLY_WRAPPED_PLAYLISTS, user_partition(MONTH, registry.require(user).handle))
            continue
        assert len(mine) == before[user] + 1, user
        playlist = mine[-1]
        tracks = wanted(warehouse, user)
        assert 0 < len(tracks) <= PLAYLIST_TRACKS
        assert playlist["uris"] == tracks  # in rank order, no duplicate
        [state] = warehouse.scan(
            MONTHLY_WRAPPED_PLAYLISTS, partitions=[user_partition(
                MONTH, registry.require(user).handle)]).to_pylist()
        assert (state["status"], state["playlist_id"]) == ("synced", playlist["id"])
        assert state["track_uris"] == tracks and state["user_id"] == user
    counts = emu.state.request_counts_snapshot()
    assert not any(k.startswith("POST") for k in counts), counts  # the second run made nothing
    assert metadata(first, "monthly_wrapped_playlists")["outcomes"] == {"created": 2}
    assert metadata(second, "monthly_wrapped_playlists")["outcomes"] == {"unchanged": 2}
