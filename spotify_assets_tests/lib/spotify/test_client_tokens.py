"""SpotifyClient's tokens against the running emulator: refresh, rotation, caching, a 401, a
revoked grant, and that no token reaches logs, errors or landed bodies (helpers and fixtures:
`emulator_client.py`).
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

import pytest

from spotify_assets.lib.spotify import auth
from spotify_assets.lib.spotify.errors import (
    InvalidGrantError,
    ReauthorizationRequired,
    SpotifyError,
)
from spotify_assets_tests.lib.spotify.emulator_client import (  # noqa: F401 (*_fixture: by name)
    HEAVY,
    LIGHT,
    ME,
    SKIPPER,
    TOKEN,
    TOKYO,
    add_fault,
    control,
    counts,
    fake_time_fixture,
    issued_tokens,
    known_handles_fixture,
    landed_fixture,
    make_client_fixture,
    named,
    store_fixture,
)

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
