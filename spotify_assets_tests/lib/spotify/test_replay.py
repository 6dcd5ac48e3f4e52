"""ReplayClient: the rebuild's client, answering from the bodies a real call landed in raw.

A real client calls the emulator with the deployment's landing hook inside `recording()`; the
replay runs the same client code over what was recorded and must give the same items, the
same way through a truncated body the client fetched twice, and refuse any request the
recording does not hold in that place.
"""

from __future__ import annotations

import httpx
import pytest

from spotify_assets.defs.resources import _land_response
from spotify_assets.lib.raw import RawStore, recording
from spotify_assets.lib.spotify.client import SpotifyClient
from spotify_assets.lib.spotify.replay import ReplayClient, ReplayMismatch
from spotify_assets_tests.lib.spotify.conftest import MemoryTokenStore, authorize

HEAVY = "demo_heavy"


def _recorded(emu, settings, call):
    """(result, calls, raw root) of `call(client)` made for real, recorded as a write would."""
    store = MemoryTokenStore({HEAVY: authorize(settings, HEAVY).refresh_token})
    raw = RawStore(settings.raw_dir)
    with (SpotifyClient(settings, store, on_response=_land_response(raw)) as client,
          recording() as calls):
        result = call(client)
    return result, calls, raw.root


def test_a_paged_list_replays_to_the_same_items(emu, emu_settings) -> None:
    # Pages of 20: three requests, three bodies, in order.
    items, calls, root = _recorded(
        emu, emu_settings, lambda c: c.top_items(HEAVY, "tracks", "short_term", limit=20))
    assert [label.split("offset=")[1] for label, _ in calls] == ["0", "20", "40"]
    assert all(label.startswith("/v1/me/top/tracks?") for label, _ in calls)

    replay = ReplayClient.from_receipt(emu_settings, root, calls)
    again = replay.top_items(HEAVY, "tracks", "short_term", limit=20)

    assert again == items and [t.id for t in again] == emu.state.world.top(
        HEAVY, "tracks", "short_term")
    assert replay.unanswered == 0


def test_a_truncated_body_fetched_twice_replays_the_same_way(emu, emu_settings) -> None:
    httpx.post(f"{emu.base_url}/_emulator/faults",
               json={"path": "/v1/me/top/artists", "kind": "truncated", "times": 1})
    items, calls, root = _recorded(
        emu, emu_settings, lambda c: c.top_items(HEAVY, "artists", "long_term"))
    assert len(calls) == 2 and calls[0][0] == calls[1][0]  # the bad body landed too

    replay = ReplayClient.from_receipt(emu_settings, root, calls)

    assert replay.top_items(HEAVY, "artists", "long_term") == items
    assert replay.unanswered == 0


def test_a_request_the_recording_does_not_hold_is_refused(emu, emu_settings) -> None:
    _, calls, root = _recorded(
        emu, emu_settings, lambda c: c.top_items(HEAVY, "tracks", "medium_term"))

    with pytest.raises(ReplayMismatch, match="time_range=long_term"):
        ReplayClient.from_receipt(emu_settings, root, calls).top_items(
            HEAVY, "tracks", "long_term")
    with pytest.raises(ReplayMismatch, match=r"limit=25&offset=0, the receipt has .*limit=50"):
        ReplayClient.from_receipt(emu_settings, root, calls).top_items(
            HEAVY, "tracks", "medium_term", limit=25)
    with pytest.raises(ReplayMismatch, match="not in the receipt"):
        ReplayClient.from_receipt(emu_settings, root, []).me(HEAVY)
