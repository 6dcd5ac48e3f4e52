"""The full login against the running emulator over real HTTP, then real API calls with it.

Authorize redirect, callback listener, state check, PKCE code exchange, /v1/me, enrollment; then
`SpotifyClient` uses the stored (encrypted) refresh token. Also: the interactive path with a
"browser" that clicks the emulator's login page, the CLI command, and re-login after a revoke.
"""

from __future__ import annotations

import html
import logging
import re
import socket
import threading
from urllib.parse import urljoin

import httpx
import pytest

from spotify_assets.lib.settings import Settings
from spotify_assets.lib.spotify import ReauthorizationRequired, SpotifyClient
from spotify_assets.lib.users.login import LoginError, login
from spotify_assets.lib.users.registry import UserRegistry
from spotify_assets.user_commands import run


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def settings(emu_settings: Settings) -> Settings:
    # A free callback port per test (the default 8888 may be taken, or used by a parallel test)
    # and no token key from the developer's environment.
    return emu_settings.model_copy(
        update={
            "spotify_redirect_uri": f"http://127.0.0.1:{_free_port()}/callback",
            "token_key": None,
        }
    )


def _issued_refresh_tokens(emu) -> set[str]:
    body = httpx.get(f"{emu.base_url}/_emulator/tokens").json()
    return {t["token"] for t in body["tokens"] if t["kind"] == "refresh"}


def test_unattended_login_then_api_calls_succeed(
    emu, settings: Settings, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    registry = UserRegistry(settings)
    truth = emu.state.world.users["demo_light"]

    user = login(settings, registry, emulator_user="demo_light", open_browser=False, timeout_s=20)

    assert user.id == "demo_light" and user.status == "active"
    assert user.display_name == truth.display_name
    refresh_token = registry.get_refresh_token("demo_light")
    assert refresh_token in _issued_refresh_tokens(emu)
    # One authorize (the redirect), one code exchange, one /me: no retries, no detours.
    counts = httpx.get(f"{emu.base_url}/_emulator/requests").json()["counts"]
    assert counts == {"GET /authorize": 1, "POST /api/token": 1, "GET /v1/me": 1}

    client = SpotifyClient(settings, registry)
    assert client.me("demo_light").id == "demo_light"
    items = client.recently_played("demo_light").items
    assert len(items) > 0
    eligible = [
        p
        for p in emu.state.world.plays("demo_light")
        if p.kind == "track" and p.ms_played >= 30_000
    ]
    assert {item.track.id for item in items} <= {p.item_id for p in eligible}
    assert items[0].track.id == eligible[-1].item_id  # newest first, nothing newer missed

    # The token never reached a log record, stdout/stderr or the plain registry bytes.
    assert refresh_token not in caplog.text
    captured = capfd.readouterr()
    assert refresh_token not in captured.out + captured.err
    for path in settings.state_dir.iterdir():
        assert refresh_token.encode() not in path.read_bytes(), path.name


def test_interactive_login_through_the_login_page(emu, settings: Settings) -> None:
    """A 'browser' opens the printed URL, clicks demo_tokyo on the page and follows redirects."""
    registry = UserRegistry(settings)
    errors: list[BaseException] = []

    def browser(url: str) -> None:
        try:
            page = httpx.get(url, timeout=10)
            page.raise_for_status()
            links = [html.unescape(h) for h in re.findall(r'href="([^"]+)"', page.text)]
            link = next(h for h in links if "demo_tokyo" in h)
            httpx.get(urljoin(url, link), follow_redirects=True, timeout=10).raise_for_status()
        except BaseException as exc:
            errors.append(exc)

    def out(line: str) -> None:
        if line.startswith("  http"):
            threading.Thread(target=browser, args=(line.strip(),), daemon=True).start()

    user = login(settings, registry, open_browser=False, timeout_s=20, out=out)
    assert errors == []
    assert user.id == "demo_tokyo"
    assert registry.require("demo_tokyo").status == "active"


def test_denied_authorization_stores_nothing(emu, settings: Settings) -> None:
    """The user clicks "Cancel": the emulator redirects with error=access_denied."""
    registry = UserRegistry(settings)

    def out(line: str) -> None:
        if line.startswith("  http"):
            url = line.strip() + "&emulator_user=demo_light&emulator_deny=1"
            threading.Thread(
                target=lambda: httpx.get(url, follow_redirects=True, timeout=10), daemon=True
            ).start()

    with pytest.raises(LoginError, match="did not authorize the app: access_denied"):
        login(settings, registry, open_browser=False, timeout_s=20, out=out)
    assert registry.list() == []
    counts = httpx.get(f"{emu.base_url}/_emulator/requests").json()["counts"]
    assert "POST /api/token" not in counts  # no code, so no exchange was attempted


def test_login_command(emu, settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["login", "--emulator-user", "demo_heavy", "--no-browser", "--timeout", "20"]
    assert run(argv, settings) == 0
    assert "enrolled demo_heavy" in capsys.readouterr().out
    assert run(["users", "list"], settings) == 0
    out = capsys.readouterr().out
    assert "demo_heavy" in out and "active" in out


def test_revoked_token_needs_reauth_then_login_again(emu, settings: Settings) -> None:
    registry = UserRegistry(settings)
    login(settings, registry, emulator_user="demo_skipper", open_browser=False, timeout_s=20)
    login(settings, registry, emulator_user="demo_light", open_browser=False, timeout_s=20)
    httpx.post(f"{emu.base_url}/_emulator/users/demo_skipper/revoke").raise_for_status()

    client = SpotifyClient(settings, registry)
    with pytest.raises(ReauthorizationRequired):
        client.me("demo_skipper")
    assert registry.require("demo_skipper").status == "needs_reauth"
    assert [u.id for u in registry.active_users()] == ["demo_light"]
    assert client.me("demo_light").id == "demo_light"  # the others go on

    login(settings, registry, emulator_user="demo_skipper", open_browser=False, timeout_s=20)
    assert registry.require("demo_skipper").status == "active"
    assert SpotifyClient(settings, registry).me("demo_skipper").id == "demo_skipper"


def test_unknown_emulator_user_stores_nothing(emu, settings: Settings) -> None:
    registry = UserRegistry(settings)
    with pytest.raises(LoginError, match=r"HTTP 4\d\d"):
        login(settings, registry, emulator_user="no_such_user", open_browser=False, timeout_s=5)
    assert registry.list() == []
