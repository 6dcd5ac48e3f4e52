"""The emulator as one ASGI app: accounts, Web API, MusicBrainz ws/2 and the control API.

`create_app(config)` builds the world once and keeps all mutable state on
`app.state.emulator` (an `EmulatorState`, state.py), which tests may also use directly from
Python. The middleware (Date header, trailing slashes, faults) is middleware.py's.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from spotify_assets.emulator import accounts, control, musicbrainz, spotify_api
from spotify_assets.emulator.middleware import (
    ClockDateHeader,
    FaultMiddleware,
    WebApiTrailingSlash,
    identify_user,
)
from spotify_assets.emulator.state import EmulatorState
from spotify_assets.emulator.world import WorldConfig


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
