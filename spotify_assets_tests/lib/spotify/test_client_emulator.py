"""SpotifyClient against the running emulator: real HTTP on loopback, real tokens, real faults.

Ground truth comes from the emulator's world (`emu.state.world`) and its control API (request
counts, issued tokens). Only time is faked: the injected sleep records each wait and advances an
injected clock, so Retry-After and backoff are asserted without waiting. Not covered here:
pathological servers the emulator cannot play (repeated pages, foreign `next` hosts), which
are in test_client_stub_server.py.
"""

from __future__ import annotations

import logging
import math
import random
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from spotify_assets.emulator.world import datetime_to_ms
from spotify_assets.lib import pseudonyms
from spotify_assets.lib.spotify import auth
from spotify_assets.lib.spotify.client import SpotifyClient
from spotify_assets.lib.spotify.errors import (
    EndpointRemovedError,
    InvalidGrantError,
    MalformedResponseError,
    NotFoundError,
    QuotaExceededError,
    RateLimitDeferred,
    ReauthorizationRequired,
    SpotifyError,
    SpotifyServerError,
)
from spotify_assets_tests.lib.spotify.conftest import FakeTime, MemoryTokenStore, authorize

HEAVY, LIGHT, TOKYO, SKIPPER = "demo_heavy", "demo_light", "demo_tokyo", "demo_skipper"
TOP = "GET /v1/me/top/{type}"
ME = "GET /v1/me"
TOKEN = "POST /api/token"
HANDLES = {HEAVY: "l-0000a001", LIGHT: "l-0000a002", TOKYO: "l-0000a003", SKIPPER: "l-0000a004"}


@pytest.fixture(autouse=True)
def known_handles() -> None:
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


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def store() -> MemoryTokenStore:
    return MemoryTokenStore()


@pytest.fixture
def landed() -> list[tuple[str, str, str, int, bytes]]:
    return []


@pytest.fixture
def make_client(emu, emu_settings, store, fake_time, landed):
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


# ---- typed calls and paging ---------------------------------------------------------------


def test_me_is_the_enrolled_user(emu, make_client) -> None:
    client = make_client(TOKYO)
    profile = client.me(TOKYO)
    world_user = emu.state.world.users[TOKYO]
    assert (profile.id, profile.display_name) == (TOKYO, world_user.display_name)
    assert profile.account_id == world_user.account_id


@pytest.mark.parametrize("kind", ["tracks", "artists"])
@pytest.mark.parametrize("time_range", ["short_term", "medium_term", "long_term"])
def test_top_items_fetch_every_ranked_item_once(emu, make_client, kind, time_range) -> None:
    client = make_client(HEAVY)
    truth = emu.state.world.top(HEAVY, kind, time_range)
    got = client.top_items(HEAVY, kind, time_range, limit=7)
    assert [item.id for item in got] == truth
    assert counts(emu)[TOP] == max(1, math.ceil(len(truth) / 7))


def test_top_items_default_limit_is_one_page_of_fifty(emu, make_client, landed) -> None:
    client = make_client(HEAVY)
    got = client.top_items(HEAVY, "tracks", "short_term")
    assert [t.id for t in got] == emu.state.world.top(HEAVY, "tracks", "short_term")
    assert counts(emu)[TOP] == 1
    assert httpx.URL(landed[0][2]).params["limit"] == "50"


def test_followed_artists_cursor_paging_gets_each_once(emu, make_client) -> None:
    client = make_client(HEAVY)
    truth = emu.state.world.users[HEAVY].followed_artist_ids
    got = [a.id for a in client.followed_artists(HEAVY, limit=7)]
    assert sorted(got) == sorted(truth) and len(got) == len(set(got))
    assert counts(emu)["GET /v1/me/following"] == math.ceil(len(truth) / 7)
    assert [a.id for a in client.followed_artists(HEAVY)] == got


def test_artist_albums_pages_of_ten(emu, make_client, landed) -> None:
    world = emu.state.world
    groups = ("album", "single", "compilation", "appears_on")

    def discography(artist_id: str) -> set[str]:
        own = {a for a in world.artist_album_ids[artist_id] if world.albums[a].album_type in groups}
        return own | set(world.appears_on(artist_id))

    artist_id = max(world.artists, key=lambda a: (len(discography(a)), a))
    truth = discography(artist_id)
    assert len(truth) > 10, "the test world should have an artist with more than one page"
    client = make_client(LIGHT)
    got = [a.id for a in client.artist_albums(LIGHT, artist_id, include_groups=groups)]
    assert sorted(got) == sorted(truth) and len(got) == len(set(got))
    assert counts(emu)["GET /v1/artists/{id}/albums"] == math.ceil(len(truth) / 10)
    assert {httpx.URL(call[2]).params["limit"] for call in landed} == {"10"}


def test_album_track_and_artist_lookups(emu, make_client) -> None:
    world = emu.state.world
    album_id = max(world.albums, key=lambda a: (len(world.albums[a].track_ids), a))
    client = make_client(LIGHT)
    album = client.album(LIGHT, album_id)
    assert album.id == album_id and album.name == world.albums[album_id].name
    tracks = client.album_tracks(LIGHT, album_id)
    assert [t.id for t in tracks] == list(world.albums[album_id].track_ids)
    track_id = tracks[0].id
    assert track_id is not None
    track = client.track(LIGHT, track_id)
    assert track.external_ids is not None
    assert track.external_ids.isrc == world.tracks[track_id].isrc
    artist_id = world.tracks[track_id].artist_ids[0]
    assert client.artist(LIGHT, artist_id).name == world.artists[artist_id].name


def test_unknown_id_is_not_found_and_bad_id_never_reaches_the_server(emu, make_client) -> None:
    client = make_client(LIGHT)
    with pytest.raises(NotFoundError, match=HANDLES[LIGHT]):
        client.track(LIGHT, "0" * 22)
    with pytest.raises(ValueError, match="invalid Spotify id"):
        client.track(LIGHT, "../me")
    assert counts(emu)["GET /v1/tracks/{id}"] == 1


def test_recently_played_walks_back_to_every_reachable_play(emu, make_client) -> None:
    client = make_client(HEAVY)
    truth = reachable(emu, HEAVY)
    page = client.recently_played(HEAVY, limit=20)
    assert [item.played_at for item in page.items] == truth
    assert page.cursors is not None
    assert page.cursors.after == str(datetime_to_ms(truth[0]))
    assert page.cursors.before == str(datetime_to_ms(truth[-1]))
    # 20 + 20 + 10: the short third page ends the walk without a fourth request.
    assert counts(emu)["GET /v1/me/player/recently-played"] == 3


def test_recently_played_after_a_cursor_gets_only_newer_plays_once(emu, make_client) -> None:
    client = make_client(HEAVY)
    truth = reachable(emu, HEAVY)
    cursor = datetime_to_ms(truth[30])
    page = client.recently_played(HEAVY, after_ms=cursor, limit=7)
    assert [item.played_at for item in page.items] == truth[:30]
    assert page.cursors is not None and page.cursors.after == str(datetime_to_ms(truth[0]))
    # Nothing new since the newest play: empty, and the cursor stays put.
    again = client.recently_played(HEAVY, after_ms=datetime_to_ms(truth[0]))
    assert again.items == []
    assert again.cursors is not None and again.cursors.after == str(datetime_to_ms(truth[0]))


def test_latest_played_is_one_request_dated_by_spotify(emu, make_client, landed) -> None:
    moment = emu.state.world.end - timedelta(hours=20, seconds=3, microseconds=250_000)
    emu.state.clock.set(moment)
    client = make_client(HEAVY)
    page = client.latest_played(HEAVY)
    assert [item.played_at for item in page.items] == reachable(emu, HEAVY)
    assert len(page.items) == 50
    # Only ~50 plays are reachable: walking `before` past them would cost a request for nothing.
    assert counts(emu)["GET /v1/me/player/recently-played"] == 1
    assert httpx.URL(landed[-1][2]).params["limit"] == "50"
    assert page.fetched_at == moment.replace(microsecond=0)  # the answer's Date header


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


# ---- tokens -------------------------------------------------------------------------------


def test_revoked_user_is_marked_alone_and_others_keep_working(emu, make_client, store):
    client = make_client(HEAVY, LIGHT)
    control(emu, "POST", f"users/{LIGHT}/revoke")
    with pytest.raises(ReauthorizationRequired) as caught:
        client.me(LIGHT)
    assert caught.value.user_id == LIGHT and named(LIGHT, str(caught.value))
    assert list(store.needs_reauth) == [LIGHT]
    assert "invalid_grant" in store.needs_reauth[LIGHT]
    assert client.me(HEAVY).id == HEAVY
    assert list(store.needs_reauth) == [LIGHT]


def test_invalid_grant_fault_for_one_user_in_a_parallel_fan_out(emu, make_client, store):
    users = [HEAVY, LIGHT, TOKYO, SKIPPER]
    client = make_client(*users)
    add_fault(emu, path="/api/token", kind="invalid_grant", user=SKIPPER)

    def poll(user: str) -> str:
        try:
            return client.me(user).id
        except ReauthorizationRequired as exc:
            return f"reauth:{exc.user_id}"

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(poll, users))
    assert results == [HEAVY, LIGHT, TOKYO, f"reauth:{SKIPPER}"]
    assert list(store.needs_reauth) == [SKIPPER]


def test_rotated_refresh_token_is_saved_and_keeps_working(
    emu, emu_settings, make_client, store, fake_time
) -> None:
    client = make_client(TOKYO)
    first = store.tokens[TOKYO]
    for _ in range(6):  # the emulator rotates on every 3rd refresh of a grant
        fake_time.advance(3600)  # the cached access token is now past its expiry margin
        assert client.me(TOKYO).id == TOKYO
    assert counts(emu)[TOKEN] == 6
    saved = [token for user, token in store.saved if user == TOKYO]
    assert len(saved) == 2 and first not in saved
    status = {t["token"]: t["status"] for t in issued_tokens(emu)}
    assert status[first] == "rotated" and status[saved[0]] == "rotated"
    assert status[store.tokens[TOKYO]] == "valid" == status[saved[1]]
    with pytest.raises(InvalidGrantError):
        auth.refresh_access_token(emu_settings, first)
    assert store.needs_reauth == {}


def test_access_token_is_cached_until_near_expiry(emu, make_client, fake_time) -> None:
    client = make_client(LIGHT)
    client.me(LIGHT)
    fake_time.advance(3600 - 61)
    client.me(LIGHT)
    assert counts(emu)[TOKEN] == 1
    fake_time.advance(2)  # now inside the 60 s margin
    client.me(LIGHT)
    assert counts(emu)[TOKEN] == 2


def test_401_refreshes_once_and_retries(emu, make_client) -> None:
    client = make_client(LIGHT)
    client.me(LIGHT)
    # The server's clock jumps past the access token's life; the client's does not know.
    control(emu, "POST", "clock", {"advance_s": 7200})
    assert client.me(LIGHT).id == LIGHT
    assert counts(emu)[ME] == 3  # ok, 401, ok
    assert counts(emu)[TOKEN] == 2


def test_tokens_never_reach_logs_exceptions_or_landed_bodies(
    emu, emu_settings, make_client, landed, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "spotify_assets"):
        caplog.set_level(logging.DEBUG, logger=name)
    client = make_client(HEAVY, LIGHT)
    errors: list[BaseException] = []
    add_fault(emu, path="/v1/me", kind="rate_limit", retry_after=1, times=1)
    add_fault(emu, path="/v1/me", kind="status", status=500, times=1)
    client.me(HEAVY)
    control(emu, "POST", "clock", {"advance_s": 7200})  # forces a 401 and a refresh
    client.top_items(HEAVY, "tracks", "short_term")
    control(emu, "POST", f"users/{LIGHT}/revoke")
    for call in (lambda: client.me(LIGHT), lambda: client.new_releases(HEAVY)):
        try:
            call()
        except SpotifyError as exc:
            errors.append(exc)
    try:
        auth.refresh_access_token(emu_settings, "AQnot-a-real-refresh-token-at-all")
    except SpotifyError as exc:
        errors.append(exc)
    assert len(errors) == 3

    tokens = [t["token"] for t in issued_tokens(emu)]
    assert len(tokens) >= 6
    # The assertion below would be empty if httpx/httpcore logged nothing at all.
    assert any(r.name.startswith("httpcore") for r in caplog.records)
    assert any(r.name == "httpx" for r in caplog.records)
    texts = [caplog.text, repr(client)]
    texts += [r.getMessage() for r in caplog.records]
    texts += [f"{e!s} {e!r} {e.__dict__}" for e in errors]
    texts += [f"{c[0]} {c[1]} {c[2]} {c[3]}" + c[4].decode("utf-8", "replace") for c in landed]
    for token in [*tokens, "AQnot-a-real-refresh-token-at-all"]:
        for text in texts:
            assert token not in text


# ---- endpoints, playlists, concurrency ----------------------------------------------------


def test_removed_endpoint_raises_until_extended_quota(emu, make_client) -> None:
    client = make_client(HEAVY)
    with pytest.raises(EndpointRemovedError, match="extended quota"):
        client.new_releases(HEAVY)
    assert counts(emu)["GET /v1/browse/new-releases"] == 1
    control(emu, "POST", "mode", {"extended_quota": True})
    albums = client.new_releases(HEAVY)
    ids = [a.id for a in albums]
    today = emu.state.clock.now().date().isoformat()
    released = [a for a in emu.state.world.albums.values() if a.release_date <= today]
    assert len(ids) == len(set(ids)) == min(100, len(released))
    assert set(ids) <= {a.id for a in released}
    # Extended quota brings the removed fields back, and the models keep them.
    artist = client.artist(HEAVY, emu.state.world.users[HEAVY].followed_artist_ids[0])
    assert artist.popularity is not None and artist.genres is not None


def test_dev_mode_fields_are_absent(emu, make_client) -> None:
    client = make_client(HEAVY)
    artist = client.artist(HEAVY, emu.state.world.users[HEAVY].followed_artist_ids[0])
    assert artist.popularity is None and artist.followers is None


def test_playlist_is_created_and_filled_in_chunks_of_100(emu, make_client) -> None:
    client = make_client(HEAVY)
    playlist = client.create_playlist(HEAVY, "Weekly radar", "made by spotify_assets")
    assert playlist.public is False
    uris = [f"spotify:track:{t}" for t in list(emu.state.world.tracks)[:230]]
    snapshot = client.add_playlist_items(HEAVY, playlist.id, uris)
    assert snapshot
    assert counts(emu)["POST /v1/playlists/{id}/items"] == 3
    stored = control(emu, "GET", f"playlists?user={HEAVY}")
    assert [p["uris"] for p in stored if p["id"] == playlist.id] == [uris]
    with pytest.raises(ValueError, match="not Spotify URIs"):
        client.add_playlist_items(HEAVY, playlist.id, ["https://open.spotify.com/x"])


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
