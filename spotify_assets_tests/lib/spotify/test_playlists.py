"""`ensure_playlist` against the emulator: one playlist per key, re-runs add nothing, a lost
answer (applied, then 5xx) or a 429 in the middle adds no duplicate, a playlist the user deleted
is not recreated, a create whose answer was lost is found again instead of made twice.

The playlist's real content is read back from the emulator's control API; the state a caller
would store is kept in a list, as the release radar keeps it in its lake table.
"""

from __future__ import annotations

import random
import uuid
from typing import Any

import httpx
import pytest

from spotify_assets.lib.spotify.client import SpotifyClient
from spotify_assets.lib.spotify.errors import SpotifyServerError
from spotify_assets.lib.spotify.playlists import PlaylistState, ensure_playlist
from spotify_assets_tests.emulator.conftest import api_client
from spotify_assets_tests.lib.spotify.conftest import FakeTime, MemoryTokenStore, authorize

USER = "demo_heavy"
NAME = "Release Radar 2026-W10"


@pytest.fixture
def marker() -> str:
    """The session's emulator keeps every playlist: each test gets a key of its own."""
    return f"[spotify_assets test {uuid.uuid4().hex[:10]}]"


@pytest.fixture
def client(emu, emu_settings) -> Any:
    store = MemoryTokenStore()
    store.tokens[USER] = authorize(emu_settings, USER).refresh_token or ""
    fake = FakeTime()
    made = SpotifyClient(
        emu_settings, store, sleep=fake.sleep, clock=fake.clock, rng=random.Random(3)
    )
    yield made
    made.close()


def uris(emu, count: int, start: int = 0) -> list[str]:
    return [f"spotify:track:{t}" for t in sorted(emu.state.world.tracks)[start : start + count]]


def content(emu, playlist_id: str) -> list[str]:
    [found] = [
        p for p in httpx.get(f"{emu.base_url}/_emulator/playlists").json() if p["id"] == playlist_id
    ]
    return found["uris"]


def owned(emu, marker: str) -> list[dict]:
    listed = httpx.get(f"{emu.base_url}/_emulator/playlists", params={"user": USER}).json()
    return [p for p in listed if p["name"] == NAME and marker in p["description"]]


def counts(emu) -> dict[str, int]:
    return emu.state.request_counts_snapshot()


def ensure(client, marker, wanted, previous, saved):
    return ensure_playlist(
        client,
        USER,
        name=NAME,
        description=f"New releases {marker}",
        marker=marker,
        uris=wanted,
        previous=previous,
        save=saved.append,
    )


def test_first_run_creates_and_fills_a_rerun_asks_nothing(emu, client, marker) -> None:
    before = len(owned(emu, marker))
    saved: list[PlaylistState] = []
    wanted = uris(emu, 130) + uris(emu, 2)  # two repeats: added once

    first = ensure(client, marker, wanted, None, saved)

    assert first.created and first.added == 130
    assert [s.status for s in saved] == ["creating", "partial", "synced"]
    assert content(emu, first.state.playlist_id) == uris(emu, 130)
    assert len(owned(emu, marker)) == before + 1
    emu.state.reset_request_counts()
    again = ensure(client, marker, wanted, saved[-1], saved)
    assert again.requests_skipped and counts(emu) == {}


def test_new_tracks_are_appended_and_user_additions_stay(emu, client, marker) -> None:
    saved: list[PlaylistState] = []
    first = ensure(client, marker, uris(emu, 5), None, saved)
    playlist = first.state.playlist_id
    extra = uris(emu, 1, start=300)
    with api_client(emu, USER) as user_app:
        user_app.post(f"/v1/playlists/{playlist}/items", json={"uris": extra})

    grown = ensure(client, marker, uris(emu, 8), saved[-1], saved)

    assert grown.added == 3 and not grown.created
    assert content(emu, playlist) == uris(emu, 5) + extra + uris(emu, 8)[5:]


def test_a_lost_answer_midway_is_read_back_not_repeated(emu, client, marker) -> None:
    saved: list[PlaylistState] = []
    first = ensure(client, marker, uris(emu, 3), None, saved)
    playlist = first.state.playlist_id
    path = f"/v1/playlists/{playlist}/items"
    # The second chunk of 100 is applied but answered 502; a 429 in between is waited out.
    emu.state.faults.add(_rule(path=path, kind="rate_limit", retry_after=2, times=1, after=0))
    emu.state.faults.add(_rule(path=path, kind="lost_answer", status=502, times=1, after=1))

    result = ensure(client, marker, uris(emu, 250), saved[-1], saved)

    assert content(emu, playlist) == uris(emu, 250)
    assert result.added == 247 and result.state.status == "synced"


def test_a_playlist_the_user_deleted_is_not_recreated_that_week(emu, client, marker) -> None:
    saved: list[PlaylistState] = []
    first = ensure(client, marker, uris(emu, 4), None, saved)
    playlist = first.state.playlist_id
    with api_client(emu, USER) as user_app:
        user_app.delete("/v1/me/library", params={"uris": f"spotify:playlist:{playlist}"})
    before = len(owned(emu, marker))

    after_delete = ensure(client, marker, uris(emu, 6), saved[-1], saved)

    assert after_delete.state.status == "deleted_by_user" and not after_delete.created
    assert content(emu, playlist) == uris(emu, 4)
    assert len(owned(emu, marker)) == before
    emu.state.reset_request_counts()
    assert ensure(client, marker, uris(emu, 9), saved[-1], saved).requests_skipped
    assert counts(emu) == {}


def test_a_create_whose_answer_was_lost_is_adopted_not_made_twice(emu, client, marker) -> None:
    before = len(owned(emu, marker))
    emu.state.faults.add(_rule(path="/v1/me/playlists", kind="lost_answer", status=504, times=1))
    saved: list[PlaylistState] = []

    made = ensure(client, marker, uris(emu, 3), None, saved)

    assert len(owned(emu, marker)) == before + 1
    assert made.adopted and content(emu, made.state.playlist_id) == uris(emu, 3)


def test_a_crash_after_create_finds_the_playlist_by_name(emu, client, marker) -> None:
    """A run killed between the create and saving its id leaves `creating` behind."""
    created = client.create_playlist(USER, NAME, f"New releases {marker}")
    before = len(owned(emu, marker))
    saved: list[PlaylistState] = []

    resumed = ensure(client, marker, uris(emu, 2), PlaylistState("creating", None, ()), saved)

    assert resumed.adopted and resumed.state.playlist_id == created.id
    assert len(owned(emu, marker)) == before


def test_a_persistent_server_error_is_raised_after_a_few_rounds(emu, client, marker) -> None:
    saved: list[PlaylistState] = []
    first = ensure(client, marker, uris(emu, 1), None, saved)
    path = f"/v1/playlists/{first.state.playlist_id}/items"
    emu.state.faults.add(_rule(path=path, kind="status", status=500))
    emu.state.faults.add(_rule(path=path, kind="status", status=500))
    with pytest.raises(SpotifyServerError):
        ensure(client, marker, uris(emu, 2), saved[-1], saved)
    assert saved[-1].status == "partial"


def _rule(**fields: Any) -> Any:
    from spotify_assets.emulator.faults import FaultRule

    return FaultRule.from_json(fields)
