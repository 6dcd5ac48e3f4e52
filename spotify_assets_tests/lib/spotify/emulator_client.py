"""What the client's emulator tests share (`test_client_emulator.py`, `test_client_faults.py`,
`test_client_tokens.py`): the demo listeners, the emulator's control API, and the fixtures that
build clients on it.

The tests run SpotifyClient against the running emulator: real HTTP on loopback, real tokens,
real faults. Ground truth comes from the emulator's world (`emu.state.world`) and its control
API (request counts, issued tokens). Only time is faked: the injected sleep records each wait
and advances an injected clock, so Retry-After and backoff are asserted without waiting.

A test module imports the fixtures it uses by their function names (`make_client_fixture`);
`name=` gives them the names the tests ask for, so no test argument shadows an import.
"""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any

import httpx
import pytest

from spotify_assets.emulator.world import datetime_to_ms
from spotify_assets.lib import pseudonyms
from spotify_assets.lib.spotify.client import SpotifyClient
from spotify_assets_tests.lib.spotify.conftest import FakeTime, MemoryTokenStore, authorize

HEAVY, LIGHT, TOKYO, SKIPPER = "demo_heavy", "demo_light", "demo_tokyo", "demo_skipper"
TOP = "GET /v1/me/top/{type}"
ME = "GET /v1/me"
TOKEN = "POST /api/token"
HANDLES = {HEAVY: "l-0000a001", LIGHT: "l-0000a002", TOKYO: "l-0000a003", SKIPPER: "l-0000a004"}


@pytest.fixture(autouse=True, name="known_handles")
def known_handles_fixture() -> None:
    """The handles these listeners have here (a registry listing in the same process would
    teach others)."""
    for user_id, handle in HANDLES.items():
        pseudonyms.remember(user_id, handle)


def named(user_id: str, text: str) -> bool:
    """Errors name a listener by handle, never by Spotify user id."""
    return HANDLES[user_id] in text and user_id not in text


# ---- helpers ------------------------------------------------------------------------------


def control(emu: Any, method: str, path: str, body: Any = None) -> Any:
    answer = httpx.request(method, f"{emu.base_url}/_emulator/{path}", json=body, timeout=10)
    answer.raise_for_status()
    return answer.json()


def add_fault(emu: Any, **rule: Any) -> None:
    control(emu, "POST", "faults", rule)


def counts(emu: Any) -> dict[str, int]:
    return control(emu, "GET", "requests")["counts"]


def issued_tokens(emu: Any) -> list[dict[str, Any]]:
    return control(emu, "GET", "tokens")["tokens"]


def reachable(emu: Any, user_id: str) -> list[datetime]:
    """played_at of the plays recently-played can reach now: newest 50 counted track plays."""
    now_ms = datetime_to_ms(emu.state.clock.now())
    plays = [p for p in emu.state.world.plays(user_id)
             if p.kind == "track" and p.ms_played >= 30_000
             and datetime_to_ms(p.ended_at) <= now_ms]
    return [p.ended_at for p in plays[-50:]][::-1]


@pytest.fixture(name="fake_time")
def fake_time_fixture() -> FakeTime:
    return FakeTime()


@pytest.fixture(name="store")
def store_fixture() -> MemoryTokenStore:
    return MemoryTokenStore()


@pytest.fixture(name="landed")
def landed_fixture() -> list[tuple[str, str, str, int, bytes]]:
    return []


@pytest.fixture(name="make_client")
def make_client_fixture(emu, emu_settings, store, fake_time, landed):
    """Builds clients on the emulator; enrolls the given demo users first (real authorize)."""
    made: list[SpotifyClient] = []

    def make(*users: str, settings=None, **options: Any) -> SpotifyClient:
        settings = settings or emu_settings
        for user in users:
            token = authorize(settings, user).refresh_token
            assert token is not None
            store.tokens[user] = token
        control(emu, "POST", "requests/reset")
        defaults: dict[str, Any] = {
            "on_response": lambda *call: landed.append(call),
            "sleep": fake_time.sleep,
            "clock": fake_time.clock,
            "rng": random.Random(7),
        }
        client = SpotifyClient(settings, store, **{**defaults, **options})
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()
