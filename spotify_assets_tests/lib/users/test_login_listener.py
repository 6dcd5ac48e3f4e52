"""The login's callback listener and state check, over real loopback HTTP, without an emulator.

A forged redirect (wrong `state`) is sent to the real listener while `login()` waits, the way a
stale browser tab or a cross-site request would arrive. The full flow against the emulator is
in test_login.py.
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from spotify_assets.lib.settings import Settings, load_settings
from spotify_assets.lib.users.login import SCOPES, CallbackListener, LoginError, login
from spotify_assets.lib.users.registry import UserRegistry


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def login_settings(tmp_path: Path) -> Settings:
    # Nothing listens on the accounts/API port: a test that got past the state check would
    # fail with a connection error, not pass.
    return load_settings(
        data_dir=tmp_path / "data",
        token_key=None,
        emulator_port=_free_port(),
        spotify_redirect_uri=f"http://127.0.0.1:{_free_port()}/callback",
    )


def _browser_that_sends(params_for: dict[str, str] | None, lines: list[str]):
    """An `out` callback that, on seeing the authorize URL, calls the redirect URI like a tab."""

    def out(line: str) -> None:
        lines.append(line)
        if not line.startswith("  http") or params_for is None:
            return
        query = parse_qs(urlsplit(line.strip()).query)
        redirect = query["redirect_uri"][0]

        def send() -> None:
            httpx.get(redirect, params=params_for, timeout=5)

        threading.Thread(target=send, daemon=True).start()

    return out


def test_authorize_url_asks_for_pipeline_scopes(login_settings: Settings) -> None:
    lines: list[str] = []
    with pytest.raises(LoginError, match=r"within 0\.3 s"):
        login(
            login_settings,
            UserRegistry(login_settings),
            open_browser=False,
            timeout_s=0.3,
            out=_browser_that_sends(None, lines),
        )
    url = urlsplit(next(line.strip() for line in lines if line.startswith("  http")))
    query = parse_qs(url.query)
    assert url.path == "/authorize"
    assert (
        set(query["scope"][0].split())
        == set(SCOPES)
        == {
            "user-read-recently-played",
            "user-top-read",
            "user-follow-read",
            "playlist-modify-private",
        }
    )
    assert query["code_challenge_method"] == ["S256"]
    assert query["redirect_uri"] == [login_settings.spotify_redirect_uri]
    assert len(query["state"][0]) >= 32


def test_state_mismatch_refused_nothing_stored(login_settings: Settings) -> None:
    registry = UserRegistry(login_settings)
    lines: list[str] = []
    forged = {"code": "attacker-code", "state": "not-the-state-we-sent"}
    with pytest.raises(LoginError, match=r"different `state`.*nothing was stored"):
        login(
            login_settings,
            registry,
            open_browser=False,
            timeout_s=10,
            out=_browser_that_sends(forged, lines),
        )
    assert registry.list() == []


def test_error_redirect_refused(login_settings: Settings) -> None:
    """The user pressed "Cancel": Spotify redirects with error=access_denied and our state."""
    registry = UserRegistry(login_settings)
    lines: list[str] = []
    holder: dict[str, str] = {}

    def out(line: str) -> None:
        lines.append(line)
        if line.startswith("  http"):
            holder["state"] = parse_qs(urlsplit(line.strip()).query)["state"][0]
            params = {"error": "access_denied", "state": holder["state"]}
            threading.Thread(
                target=lambda: httpx.get(login_settings.spotify_redirect_uri, params=params),
                daemon=True,
            ).start()

    with pytest.raises(LoginError, match="did not authorize the app: access_denied"):
        login(login_settings, registry, open_browser=False, timeout_s=10, out=out)
    assert registry.list() == []


def test_listener_ignores_other_paths_and_takes_one_callback(
    login_settings: Settings, capfd: pytest.CaptureFixture[str]
) -> None:
    uri = login_settings.spotify_redirect_uri
    base = uri.rsplit("/", 1)[0]
    with CallbackListener(uri) as listener:
        assert httpx.get(f"{base}/favicon.ico").status_code == 404
        assert httpx.get(uri).status_code == 404  # no code, no error: not a callback
        first = httpx.get(uri, params={"code": "secret-code-1", "state": "s1"})
        second = httpx.get(uri, params={"code": "secret-code-2", "state": "s2"})
        assert first.status_code == second.status_code == 200
        assert "secret-code" not in first.text
        assert listener.wait(1) == {"code": "secret-code-1", "state": "s1"}
    # The request line (with the code) is not logged to stderr as http.server would by default.
    captured = capfd.readouterr()
    assert "secret-code" not in captured.err + captured.out


def test_listener_port_taken_is_a_clear_error(login_settings: Settings) -> None:
    port = urlsplit(login_settings.spotify_redirect_uri).port
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", port))
        blocker.listen()
        with pytest.raises(LoginError, match=f"cannot listen on 127.0.0.1:{port}"):
            CallbackListener(login_settings.spotify_redirect_uri)


@pytest.mark.parametrize(
    "uri", ["https://127.0.0.1:8888/callback", "http://example.org:8888/callback"]
)
def test_listener_needs_loopback_http(uri: str) -> None:
    with pytest.raises(LoginError, match="loopback"):
        CallbackListener(uri)


def test_emulator_user_refused_in_live_mode(tmp_path: Path) -> None:
    settings = load_settings(
        data_dir=tmp_path,
        token_key=None,
        mode="live",
        spotify_client_id="abc",
        musicbrainz_user_agent="x/1 ( a@b.c )",
    )
    with pytest.raises(LoginError, match="SPOTIFY_ASSETS_MODE=live"):
        login(settings, UserRegistry(settings), emulator_user="demo_heavy", timeout_s=1)


@pytest.mark.parametrize("bad", ["../../etc", "x'; drop table plays; --"])
def test_hostile_emulator_user_refused(login_settings: Settings, bad: str) -> None:
    with pytest.raises(LoginError, match="invalid user id"):
        login(login_settings, UserRegistry(login_settings), emulator_user=bad, timeout_s=1)
