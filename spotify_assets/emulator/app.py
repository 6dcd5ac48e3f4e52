"""The emulator as one ASGI app: accounts, Web API, MusicBrainz ws/2 and the control API.

`create_app(config)` builds the world once and keeps all mutable state on
`app.state.emulator` (an `EmulatorState`), which tests may also use directly from Python.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute
from starlette.types import Scope

from spotify_assets.emulator import accounts, control, musicbrainz, spotify_api
from spotify_assets.emulator.accounts import Accounts, parse_form
from spotify_assets.emulator.faults import FaultEngine, FaultMiddleware, sleep_unless
from spotify_assets.emulator.spotify_api import Playlist, playlist_id, recent_index
from spotify_assets.emulator.world import Play, World, WorldConfig


class Clock:
    """The emulator's notion of now: real UTC time unless a test fixes it."""

    def __init__(self) -> None:
        self.fixed: datetime | None = None
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            fixed = self.fixed
        return fixed if fixed is not None else datetime.now(UTC)

    def set(self, value: datetime | None) -> None:
        if value is not None and value.tzinfo is None:
            raise ValueError(f"clock time must be timezone-aware, got {value}")
        with self._lock:
            self.fixed = value.astimezone(UTC) if value is not None else None

    def advance(self, seconds: float) -> None:
        """Move the clock forward (fixing it first if it follows real time)."""
        self.set(self.now() + timedelta(seconds=seconds))


class EmulatorState:
    """Everything one running emulator knows and every switch tests can flip."""

    def __init__(self, config: WorldConfig, *, mb_test_mode: bool = False) -> None:
        self.world = World(config)
        self.config = self.world.config
        self.clock = Clock()
        self.faults = FaultEngine()
        self.request_counts: Counter[str] = Counter()
        self.accounts = Accounts(list(self.world.users), self.clock.now)
        self.issued_tokens = self.accounts.tokens
        self.extended_quota = False
        self.mb_test_mode = mb_test_mode
        self.playlists: dict[str, Playlist] = {}
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._recent: dict[str, tuple[list[Play], list[int]]] = {}

    def count_request(self, template: str) -> None:
        with self._lock:
            self.request_counts[template] += 1

    def request_counts_snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(sorted(self.request_counts.items()))

    def reset_request_counts(self) -> None:
        with self._lock:
            self.request_counts.clear()

    def reset(self) -> None:
        """Back to defaults between tests: no faults, real clock, zero counts, dev mode."""
        self.faults.clear()
        self.clock.set(None)
        self.reset_request_counts()
        self.extended_quota = False

    def recent_index(self, user_id: str) -> tuple[list[Play], list[int]]:
        if user_id not in self._recent:
            self._recent[user_id] = recent_index(self.world, user_id)
        return self._recent[user_id]

    def new_playlist(
        self, owner: str, name: str, description: str, public: bool, collaborative: bool
    ) -> Playlist:
        with self._lock:
            ident = playlist_id(self.config.seed, len(self.playlists) + 1)
            playlist = Playlist(ident, owner, name, description, public, collaborative)
            playlist.followers.add(owner)
            self.playlists[ident] = playlist
        return playlist

    async def sleep(self, seconds: float) -> None:
        await sleep_unless(self.stopping, seconds)


def identify_user(state: EmulatorState, scope: Scope, body: bytes) -> str | None:
    """Best-effort: the demo user a request is made for (fault rules may target one user)."""
    path = scope["path"]
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    if path.startswith("/v1/"):
        header = headers.get("authorization", "")
        if header[:7].lower() == "bearer ":
            token = state.accounts.lookup(header[7:].strip())
            return token.user_id if token else None
        return None
    if path == "/api/token":
        form = parse_form(body)
        if form.get("refresh_token"):
            return state.accounts.user_of_refresh(form["refresh_token"])
        if form.get("code"):
            return state.accounts.user_of_code(form["code"])
        return None
    if path == "/authorize":
        query = parse_form(scope.get("query_string", b""))
        return query.get("emulator_user")
    return None


class WebApiTrailingSlash:
    """Spotify answers `/v1/me/` as `/v1/me` (spotipy calls it that way): strip one trailing
    slash from `/v1/...` paths before routing. MusicBrainz paths keep theirs (it means search)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and path.startswith("/v1/") and path.endswith("/"):
            trimmed = path.rstrip("/")
            scope = {**scope, "path": trimmed, "raw_path": trimmed.encode()}
        await self.app(scope, receive, send)


class ClockDateHeader:
    """Every answer's `Date` header is the emulator clock's now, as a server's is its own: a
    client comparing Spotify's time with `played_at` must see the same clock (uvicorn's own
    Date header is switched off in server.py)."""

    def __init__(self, app: Any, state: EmulatorState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def dated(message: Any) -> None:
            if message["type"] == "http.response.start":
                date = format_datetime(self.state.clock.now(), usegmt=True).encode()
                headers = [h for h in message.get("headers", []) if h[0].lower() != b"date"]
                message = {**message, "headers": [*headers, (b"date", date)]}
            await send(message)

        await self.app(scope, receive, dated)


def create_app(config: WorldConfig, *, mb_test_mode: bool = False) -> Starlette:
    """One app on one port: `/authorize`, `/api/token`, `/v1/...`, `/ws/2/...`, `/_emulator/...`."""
    state = EmulatorState(config, mb_test_mode=mb_test_mode)
    routes: list[BaseRoute] = [
        *control.routes(),
        *accounts.routes(),
        *musicbrainz.routes(state),
        *spotify_api.routes(),
    ]
    middleware = [
        Middleware(ClockDateHeader, state=state),
        Middleware(WebApiTrailingSlash),
        Middleware(FaultMiddleware, state=state, routes=routes, identify=identify_user),
    ]
    app = Starlette(routes=routes, middleware=middleware)
    app.state.emulator = state
    return app
