"""Request helpers shared by the endpoints: the emulator state and the `Shapes` of a request,
the bearer token's `Caller` (401 for a missing, rotated, revoked or expired token, 403 without
one of the scopes), `limit`/`offset` parsing, base62 id lookup and the Development-Mode 403 of
removed endpoints.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from starlette.requests import Request

from spotify_assets.emulator.spotify_api.errors import ApiError
from spotify_assets.emulator.spotify_api.models import Caller
from spotify_assets.emulator.spotify_api.shapes import Shapes

if TYPE_CHECKING:
    from spotify_assets.emulator.state import EmulatorState
    from spotify_assets.emulator.tokens import IssuedToken


_ID = re.compile(r"^[0-9A-Za-z]{22}$")


# --------------------------------------------------------------------------------------------
# Request helpers
# --------------------------------------------------------------------------------------------


def _state(request: Request) -> EmulatorState:
    return request.app.state.emulator


def _shapes(request: Request) -> Shapes:
    state = _state(request)
    base = f"{request.url.scheme}://{request.url.netloc}"
    return Shapes(state.world, base, state.extended_quota)


def access_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header[:7].lower() != "bearer ":
        return None
    return header[7:].strip() or None


def _caller(request: Request, *scopes: str) -> Caller:
    """The user behind the bearer token; `scopes` lists alternatives (any one suffices)."""
    state = _state(request)
    value = access_token(request)
    if value is None:
        raise ApiError(401, "No token provided")
    token: IssuedToken | None = state.accounts.lookup(value)
    if token is None or token.status == "rotated":
        raise ApiError(401, "Invalid access token")
    if token.status == "revoked":
        raise ApiError(401, "The access token has been revoked")
    assert token.expires_at is not None
    if state.clock.now() >= token.expires_at:
        raise ApiError(401, "The access token expired")
    granted = frozenset(token.scope.split())
    if scopes and not granted.intersection(scopes):
        raise ApiError(403, "Insufficient client scope")
    return Caller(token.user_id, granted)


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"Invalid {name}") from None
    if not low <= value <= high:
        raise ApiError(400, f"Invalid {name}")
    return value


def _limit(request: Request, default: int, high: int) -> int:
    return _int_param(request, "limit", default, 1, high)


def _offset(request: Request) -> int:
    return _int_param(request, "offset", 0, 0, 100_000)


def _lookup(mapping: dict[str, Any], ident: str) -> Any:
    if not _ID.match(ident):
        raise ApiError(400, "Invalid base62 id")
    if ident not in mapping:
        raise ApiError(404, "Resource not found")
    return mapping[ident]


def _removed(request: Request) -> None:
    """403 for endpoints Spotify removed for Development-Mode apps (unless extended quota)."""
    if not _state(request).extended_quota:
        raise ApiError(403, "Forbidden")
