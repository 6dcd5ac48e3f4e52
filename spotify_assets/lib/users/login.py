"""`spotify-assets login`: the authorization-code flow with PKCE, ending in an enrolled user.

1. A random `state` and a PKCE pair; the authorize URL asks for the scopes the pipeline needs.
2. A one-shot HTTP listener on the host:port of the configured redirect URI waits for the
   redirect (`?code=...&state=...`).
3. Interactive: the URL is printed (and opened in a browser). Unattended, for the emulator's
   demo users: this code GETs the authorize URL itself (`emulator_user=ID`), reads the redirect
   and delivers it to its own listener over real HTTP, so the listener, the state check and the
   code exchange run exactly as with a browser.
4. A `state` mismatch stops everything before any token is requested; otherwise the code is
   exchanged (`spotify.auth.exchange_code`), `GET /v1/me` gives the stable user id and name, and
   the registry stores the encrypted refresh token.
"""

from __future__ import annotations

import contextlib
import hmac
import http.client
import http.server
import secrets
import socket
import threading
import webbrowser
from collections.abc import Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urljoin, urlsplit

import httpx

from spotify_assets.lib.ids import InvalidIdError
from spotify_assets.lib.users.registry import User, check_user_id

if TYPE_CHECKING:
    from spotify_assets.lib.settings import Settings
    from spotify_assets.lib.users.registry import UserRegistry

SCOPES: tuple[str, ...] = (
    "user-read-recently-played",
    "user-top-read",
    "user-follow-read",
    # Asked at enrollment so opting in to playlists later needs no second login.
    "playlist-modify-private",
)
ME_ENDPOINT = "GET /v1/me"
_PAGE = (
    b"<!doctype html><html><head><meta charset='utf-8'><title>spotify_assets</title></head>"
    b"<body><p>Authorization received. You can close this tab and return to the terminal."
    b"</p></body></html>"
)


class LoginError(RuntimeError):
    """The login did not complete; nothing was stored. The message says what to do."""


class CallbackListener:
    """Accepts one redirect on the redirect URI's host, port and path, in a background thread."""

    def __init__(self, redirect_uri: str, *, request_timeout_s: float = 10.0) -> None:
        parts = urlsplit(redirect_uri)
        if parts.scheme != "http" or not _is_loopback(parts.hostname or ""):
            raise LoginError(
                f"SPOTIFY_REDIRECT_URI {redirect_uri!r} must be an http:// loopback address "
                "(e.g. http://127.0.0.1:8888/callback) for the login listener on this machine"
            )
        self.redirect_uri = redirect_uri
        self.path = parts.path or "/"
        self._params: dict[str, str] | None = None
        self._arrived = threading.Event()
        self._server = self._bind(parts.hostname or "", parts.port or 80, request_timeout_s)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
            name="login-callback",
        )
        self._thread.start()

    def _bind(self, host: str, port: int, request_timeout_s: float) -> http.server.HTTPServer:
        listener = self

        class Handler(http.server.BaseHTTPRequestHandler):
            timeout = request_timeout_s  # a client that never finishes cannot block the login

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                params = dict(parse_qsl(parts.query))
                if parts.path != listener.path or not ({"code", "error"} & params.keys()):
                    self._answer(404, b"not the login callback")
                    return
                listener._deliver(params)
                self._answer(200, _PAGE)

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                # The default logs the request line, which carries the authorization code.
                return

        server_class = _IPv6Server if ":" in host else http.server.HTTPServer
        try:
            return server_class((host, port), Handler)
        except OSError as exc:
            raise LoginError(
                f"cannot listen on {host}:{port} for the login redirect ({exc.strerror}): is "
                "another login running? Another port needs SPOTIFY_REDIRECT_URI changed (and "
                "registered with the Spotify app)"
            ) from None

    def _deliver(self, params: dict[str, str]) -> None:
        if not self._arrived.is_set():  # one request: the first callback wins
            self._params = params
            self._arrived.set()

    def wait(self, timeout_s: float) -> dict[str, str]:
        """The callback's query parameters; LoginError if none arrives within `timeout_s`."""
        if not self._arrived.wait(timeout_s) or self._params is None:
            raise LoginError(
                f"no login redirect reached {self.redirect_uri} within {timeout_s:g} s; "
                "nothing was stored. Run `spotify-assets login` again"
            )
        return self._params

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> CallbackListener:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class _IPv6Server(http.server.HTTPServer):
    address_family = socket.AF_INET6


def _is_loopback(host: str) -> bool:
    return host in ("127.0.0.1", "localhost", "::1") or host.startswith("127.")


def login(
    settings: Settings,
    registry: UserRegistry,
    *,
    emulator_user: str | None = None,
    open_browser: bool = True,
    timeout_s: float = 300,
    out: Callable[[str], None] = print,
) -> User:
    """Run the authorization-code + PKCE flow and enroll (or re-enroll) the user who logs in."""
    from spotify_assets.lib.spotify.auth import build_authorize_url, exchange_code, pkce_pair

    if emulator_user is not None:
        _check_emulator_user(settings, emulator_user)
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(32)
    extra = {"emulator_user": emulator_user} if emulator_user else None
    url = build_authorize_url(settings, state, challenge, SCOPES, extra)
    with CallbackListener(settings.spotify_redirect_uri) as listener:
        if emulator_user is not None:
            _drive_authorize(settings, url, emulator_user)
        else:
            _prompt(url, settings.spotify_redirect_uri, open_browser, timeout_s, out)
        params = listener.wait(timeout_s)
    code = check_callback(params, state)
    tokens = exchange_code(settings, code, verifier)
    if not tokens.refresh_token:
        raise LoginError("the token endpoint returned no refresh token; nothing was stored")
    user_id, display_name = whoami(settings, tokens.access_token)
    if emulator_user is not None and user_id != emulator_user:
        raise LoginError(
            f"logged in as emulator user {emulator_user!r} but /v1/me says {user_id!r}; "
            "nothing was stored"
        )
    user = registry.enroll(
        user_id, display_name, tokens.refresh_token, authorized_at=datetime.now(UTC)
    )
    out(f"enrolled {user.id} ({user.display_name})")
    return user


def _check_emulator_user(settings: Settings, emulator_user: str) -> None:
    if settings.mode != "emulator":
        raise LoginError(
            "--emulator-user logs in a demo user of the local emulator; it does not work with "
            "SPOTIFY_ASSETS_MODE=live (log in with a browser instead)"
        )
    try:
        check_user_id(emulator_user)
    except InvalidIdError as exc:
        raise LoginError(f"emulator user: {exc}") from None


def _prompt(
    url: str, redirect_uri: str, open_browser: bool, timeout_s: float, out: Callable[[str], None]
) -> None:
    out("Open this URL in a browser and log in to Spotify:")
    out(f"  {url}")
    out(f"Waiting up to {timeout_s:g} s for the redirect to {redirect_uri} ...")
    if open_browser:
        # Printing the URL is enough: a headless machine has no browser to open.
        with contextlib.suppress(webbrowser.Error):
            webbrowser.open(url)


def _drive_authorize(settings: Settings, url: str, emulator_user: str) -> None:
    """Play the browser: GET the authorize URL, then deliver its redirect to our listener."""
    with httpx.Client(timeout=settings.http_timeout_s, follow_redirects=False) as http:
        try:
            response = http.get(url)
        except httpx.TransportError as exc:
            raise LoginError(
                f"GET {settings.spotify_accounts_url}/authorize: {type(exc).__name__}: {exc}; "
                "is the emulator running?"
            ) from None
    location = response.headers.get("location")
    if response.status_code not in (301, 302, 303, 307, 308) or not location:
        raise LoginError(
            f"GET /authorize for emulator user {emulator_user!r} answered HTTP "
            f"{response.status_code} instead of a redirect: {response.text[:200]!r}"
        )
    target = urljoin(url, location)
    expected = urlsplit(settings.spotify_redirect_uri)
    got = urlsplit(target)
    if (got.scheme, got.netloc, got.path) != (expected.scheme, expected.netloc, expected.path):
        raise LoginError(
            f"/authorize redirected to {got.scheme}://{got.netloc}{got.path}, not to "
            f"SPOTIFY_REDIRECT_URI {settings.spotify_redirect_uri}; nothing was stored"
        )
    _get_local(got.hostname or "", got.port or 80, f"{got.path}?{got.query}", settings)


def _get_local(host: str, port: int, path_and_query: str, settings: Settings) -> None:
    # http.client rather than httpx: httpx logs every URL at INFO, and this one carries the
    # authorization code.
    connection = http.client.HTTPConnection(host, port, timeout=settings.http_timeout_s)
    try:
        connection.request("GET", path_and_query)
        connection.getresponse().read()
    except OSError as exc:
        raise LoginError(f"delivering the redirect to the login listener failed: {exc}") from None
    finally:
        connection.close()


def check_callback(params: dict[str, str], state: str) -> str:
    """The authorization code of a genuine callback; LoginError for anything else."""
    returned = params.get("state", "")
    if not hmac.compare_digest(returned.encode(), state.encode()):
        raise LoginError(
            "the login redirect carried a different `state` than this login sent, so it is "
            "not the answer to this login (a stale browser tab, or a forged request); nothing "
            "was stored. Run `spotify-assets login` again"
        )
    if "error" in params:
        raise LoginError(
            f"Spotify did not authorize the app: {params['error'][:100]}; nothing was stored"
        )
    code = params.get("code", "")
    if not code:
        raise LoginError("the login redirect carried no authorization code; nothing was stored")
    return code


def whoami(settings: Settings, access_token: str) -> tuple[str, str]:
    """(user id, display name) of the account an access token belongs to."""
    try:
        response = httpx.get(
            f"{settings.spotify_api_url}/v1/me",
            headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
            timeout=settings.http_timeout_s,
        )
    except httpx.TransportError as exc:
        raise LoginError(f"{ME_ENDPOINT} after login: {type(exc).__name__}: {exc}") from None
    body = _json(response)
    if response.status_code != 200 or not isinstance(body, dict):
        message = _error_message(body).replace(access_token, "<redacted>")
        raise LoginError(
            f"{ME_ENDPOINT} after login answered HTTP {response.status_code}: {message}; "
            "nothing was stored"
        )
    user_id = body.get("id")
    try:
        check_user_id(user_id)  # type: ignore[arg-type]
    except InvalidIdError as exc:
        raise LoginError(f"{ME_ENDPOINT} returned an unusable user id: {exc}") from None
    name = body.get("display_name")
    return user_id, name if isinstance(name, str) and name else user_id


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _error_message(body: Any) -> str:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"].get("message", ""))[:200]
    return "unexpected answer"
