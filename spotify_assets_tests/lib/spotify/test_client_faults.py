"""SpotifyClient against the running emulator's faults: rate limits, server errors, timeouts,
bad bodies, and the bound on concurrent requests (helpers and fixtures: `emulator_client.py`).
"""

from __future__ import annotations

import random
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from spotify_assets.lib.spotify.errors import (
    MalformedResponseError,
    QuotaExceededError,
    RateLimitDeferred,
    SpotifyServerError,
)
from spotify_assets_tests.lib.spotify.conftest import FakeTime
from spotify_assets_tests.lib.spotify.emulator_client import (  # noqa: F401 (*_fixture: by name)
    HEAVY,
    LIGHT,
    ME,
    SKIPPER,
    TOKYO,
    TOP,
    add_fault,
    control,
    counts,
    fake_time_fixture,
    known_handles_fixture,
    landed_fixture,
    make_client_fixture,
    named,
    store_fixture,
)

# ---- rate limits --------------------------------------------------------------------------


def test_429_storm_is_survived_honouring_retry_after(emu, make_client, fake_time, landed):
    add_fault(emu, path="/v1/me/top/*", kind="rate_limit", retry_after=2, times=3)
    client = make_client(HEAVY)
    got = client.top_items(HEAVY, "artists", "medium_term")
    assert [a.id for a in got] == emu.state.world.top(HEAVY, "artists", "medium_term")
    assert fake_time.sleeps == [2, 2, 2]
    assert counts(emu)[TOP] == 4
    # on_response saw every answer, errors included; the token endpoint is never landed.
    assert [call[3] for call in landed] == [429, 429, 429, 200]
    assert {call[1] for call in landed} == {TOP}


def test_missing_retry_after_waits_one_second(emu, make_client, fake_time) -> None:
    add_fault(emu, path="/v1/me", kind="rate_limit", times=1)
    make_client(LIGHT).me(LIGHT)
    assert fake_time.sleeps == [1]


def test_endless_429s_are_bounded_and_deferred(emu, make_client, fake_time) -> None:
    add_fault(emu, path="/v1/me", kind="rate_limit", retry_after=1)
    client = make_client(LIGHT)
    with pytest.raises(RateLimitDeferred) as caught:
        client.me(LIGHT)
    assert caught.value.retry_after_s == 1
    assert counts(emu)[ME] == 9  # the first try and 8 retries
    assert fake_time.sleeps == [1] * 8
    assert named(LIGHT, str(caught.value)) and ME in str(caught.value)


def test_retry_after_over_the_cap_defers_everyone_without_sleeping(
    emu, make_client, fake_time
) -> None:
    add_fault(emu, path="/v1/me", kind="rate_limit", retry_after=3600, times=1, user=HEAVY)
    client = make_client(HEAVY, LIGHT)
    with pytest.raises(RateLimitDeferred) as caught:
        client.me(HEAVY)
    assert caught.value.retry_after_s == 3600
    assert fake_time.sleeps == []
    # The window is the app's: another user is deferred too, without a request being sent.
    with pytest.raises(RateLimitDeferred) as other:
        client.me(LIGHT)
    assert other.value.user_id == LIGHT
    assert 3590 < other.value.retry_after_s <= 3600
    assert counts(emu)[ME] == 1
    assert fake_time.sleeps == []


def test_one_users_429_holds_back_the_other_users(emu, make_client) -> None:
    # A clock that sleeping does not move: after user A's 429, the shared window is still
    # closed when user B asks, so B must wait too.
    frozen = FakeTime(advance_on_sleep=False)
    add_fault(emu, path="/v1/me", kind="rate_limit", retry_after=4, times=1, user=HEAVY)
    client = make_client(HEAVY, LIGHT, sleep=frozen.sleep, clock=frozen.clock)
    assert client.me(HEAVY).id == HEAVY
    assert frozen.sleeps == [4]
    assert client.me(LIGHT).id == LIGHT
    assert frozen.sleeps == [4, 4]
    frozen.advance(4.5)
    client.me(LIGHT)
    assert frozen.sleeps == [4, 4]


def test_quota_exceeded_is_its_own_error_and_not_retried(emu, make_client, fake_time) -> None:
    add_fault(emu, path="/v1/me/top/*", kind="quota")
    client = make_client(HEAVY)
    with pytest.raises(QuotaExceededError) as caught:
        client.top_items(HEAVY, "tracks", "long_term")
    assert not isinstance(caught.value, RateLimitDeferred)
    assert counts(emu)[TOP] == 1
    assert fake_time.sleeps == []
    assert named(HEAVY, str(caught.value))


# ---- server errors, timeouts, bad bodies --------------------------------------------------


def test_5xx_is_retried_with_jittered_backoff_then_succeeds(emu, make_client, fake_time):
    def run(seed: int) -> list[float]:
        add_fault(emu, path="/v1/me", kind="status", status=503, times=2)
        control(emu, "POST", "requests/reset")
        fake_time.sleeps.clear()
        client = make_client(LIGHT, rng=random.Random(seed))
        assert client.me(LIGHT).id == LIGHT
        assert counts(emu)[ME] == 3
        return list(fake_time.sleeps)

    first = run(3)
    assert len(first) == 2
    assert 0 <= first[0] <= 0.5 and 0 <= first[1] <= 1.0
    assert run(3) == first  # same seed, same jitter
    assert run(4) != first


def test_5xx_that_persists_gives_up_after_five_attempts(emu, make_client, fake_time) -> None:
    add_fault(emu, path="/v1/me", kind="status", status=502)
    client = make_client(LIGHT)
    with pytest.raises(SpotifyServerError) as caught:
        client.me(LIGHT)
    assert counts(emu)[ME] == 5
    assert len(fake_time.sleeps) == 4
    assert all(s <= 0.5 * 2 ** i for i, s in enumerate(fake_time.sleeps))
    assert caught.value.status == 502 and named(LIGHT, str(caught.value))


def test_slow_answer_past_the_timeout_is_retried(emu, emu_settings, make_client, fake_time):
    settings = emu_settings.model_copy(update={"http_timeout_s": 0.3})
    add_fault(emu, path="/v1/me", kind="slow", delay_s=1.5, times=1)
    client = make_client(LIGHT, settings=settings)
    assert client.me(LIGHT).id == LIGHT
    assert counts(emu)[ME] == 2
    assert len(fake_time.sleeps) == 1


def test_a_post_that_may_have_been_applied_is_not_repeated(emu, make_client) -> None:
    add_fault(emu, path="/v1/me/playlists", kind="status", status=500, times=1)
    client = make_client(HEAVY)
    with pytest.raises(SpotifyServerError, match="not retried"):
        client.create_playlist(HEAVY, "Radar", "weekly")
    assert counts(emu)["POST /v1/me/playlists"] == 1


def test_malformed_json_is_fetched_once_more(emu, make_client) -> None:
    add_fault(emu, path="/v1/me", kind="malformed", times=1)
    client = make_client(LIGHT)
    assert client.me(LIGHT).id == LIGHT
    assert counts(emu)[ME] == 2
    add_fault(emu, path="/v1/me", kind="malformed")
    with pytest.raises(MalformedResponseError, match="invalid JSON") as caught:
        client.me(LIGHT)
    assert counts(emu)[ME] == 4
    assert named(LIGHT, str(caught.value))


def test_truncated_page_is_fetched_once_more_then_rejected(emu, make_client) -> None:
    truth = emu.state.world.top(HEAVY, "tracks", "medium_term")
    add_fault(emu, path="/v1/me/top/tracks", kind="truncated", times=1)
    client = make_client(HEAVY)
    assert [t.id for t in client.top_items(HEAVY, "tracks", "medium_term")] == truth
    assert counts(emu)[TOP] == 2
    add_fault(emu, path="/v1/me/top/tracks", kind="truncated")
    with pytest.raises(MalformedResponseError, match="truncated"):
        client.top_items(HEAVY, "tracks", "medium_term")


# ---- concurrency --------------------------------------------------------------------------


def test_concurrency_is_bounded_across_users(emu, make_client) -> None:
    users = [HEAVY, LIGHT, TOKYO, SKIPPER]
    client = make_client(*users, max_concurrency=2)
    for user in users:  # tokens first, so only the slow /v1/me calls are timed
        client.me(user)
    add_fault(emu, path="/v1/me", kind="slow", delay_s=0.4)
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = [p.id for p in pool.map(client.me, users)]
    elapsed = time.monotonic() - started
    assert got == users
    # Four 0.4 s answers through two slots take two rounds; unbounded they would take one.
    assert elapsed >= 0.8
