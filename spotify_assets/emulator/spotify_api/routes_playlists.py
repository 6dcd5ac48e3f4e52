"""Playlists created through the API: `POST /v1/me/playlists`, adding and listing items,
`GET /v1/playlists/{id}` and the caller's playlists (those in their library). The library
endpoints of 2026 (`DELETE /v1/me/library`, `GET /v1/me/library/contains`) know playlists only:
removing one from the owner's library is how a user deletes it, and it stays readable by id, as
on Spotify. The helpers here also answer the removed `/v1/users/{id}/playlists` and
`/v1/playlists/{id}/tracks` variants (see `routes_removed`).
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from spotify_assets.emulator.faults import json_response
from spotify_assets.emulator.spotify_api.errors import ApiError, _api
from spotify_assets.emulator.spotify_api.models import Caller, Playlist
from spotify_assets.emulator.spotify_api.request import (
    _ID,
    _caller,
    _limit,
    _offset,
    _shapes,
    _state,
)

# --------------------------------------------------------------------------------------------
# Playlists
# --------------------------------------------------------------------------------------------

MODIFY_SCOPES = ("playlist-modify-private", "playlist-modify-public")


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        payload = json.loads(raw)
    except ValueError:
        raise ApiError(400, "Error parsing JSON.") from None
    if not isinstance(payload, dict):
        raise ApiError(400, "Error parsing JSON.")
    return payload


async def _create_playlist(request: Request, owner_id: str | None = None) -> Response:
    caller = _caller(request, *MODIFY_SCOPES)
    if owner_id is not None and owner_id != caller.user_id:
        raise ApiError(403, "You cannot create a playlist for another user.")
    payload = await _json_body(request)
    name = payload.get("name")
    if not isinstance(name, str) or not name:
        raise ApiError(400, "Missing required field: name")
    public = payload.get("public", True)
    collaborative = payload.get("collaborative", False)
    if not isinstance(public, bool) or not isinstance(collaborative, bool):
        raise ApiError(400, "public and collaborative must be booleans")
    needed = "playlist-modify-public" if public else "playlist-modify-private"
    if needed not in caller.scopes:
        raise ApiError(403, "Insufficient client scope")
    state = _state(request)
    playlist = state.new_playlist(
        owner=caller.user_id,
        name=name,
        description=str(payload.get("description") or ""),
        public=public,
        collaborative=collaborative,
    )
    return json_response(_shapes(request).playlist(playlist), 201)


@_api
async def create_playlist(request: Request) -> Response:
    return await _create_playlist(request)


def _own_playlist(request: Request, caller: Caller) -> Playlist:
    state = _state(request)
    ident = request.path_params["id"]
    if not _ID.match(ident):
        raise ApiError(400, "Invalid base62 id")
    playlist = state.playlists.get(ident)
    if playlist is None:
        raise ApiError(404, "Resource not found")
    if playlist.owner != caller.user_id and not playlist.collaborative:
        raise ApiError(403, "Forbidden")
    return playlist


async def _add_items(request: Request) -> Response:
    caller = _caller(request, *MODIFY_SCOPES)
    playlist = _own_playlist(request, caller)
    raw_uris = request.query_params.get("uris")
    payload: dict[str, Any] = {} if raw_uris else await _json_body(request)
    uris = raw_uris.split(",") if raw_uris else payload.get("uris")
    if not isinstance(uris, list) or not uris:
        raise ApiError(400, "No uris provided")
    if len(uris) > 100:
        raise ApiError(400, "You can add a maximum of 100 tracks per request.")
    world = _state(request).world
    for uri in uris:
        parts = uri.split(":") if isinstance(uri, str) else []
        known = (
            len(parts) == 3
            and parts[0] == "spotify"
            and (
                (parts[1] == "track" and parts[2] in world.tracks)
                or (parts[1] == "episode" and parts[2] in world.episodes)
            )
        )
        if not known:
            raise ApiError(400, f"Invalid track uri: {uri}")
    position = payload.get("position", request.query_params.get("position"))
    try:
        at = len(playlist.items) if position is None else int(position)
    except (TypeError, ValueError):
        raise ApiError(400, "Invalid position") from None
    if not 0 <= at <= len(playlist.items):
        raise ApiError(400, "Index out of bounds")
    added_at = _state(request).clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    playlist.items[at:at] = [(u, added_at, caller.user_id) for u in uris]
    playlist.version += 1
    return json_response({"snapshot_id": playlist.snapshot_id}, 201)


@_api
async def add_playlist_items(request: Request) -> Response:
    return await _add_items(request)


async def _list_items(request: Request, key: str) -> Response:
    caller = _caller(request)
    playlist = _own_playlist(request, caller)
    limit, offset = _limit(request, 20, 50), _offset(request)
    shapes = _shapes(request)
    page = playlist.items[offset : offset + limit]
    tail = "items" if key == "item" else "tracks"
    body = shapes.paging(
        [shapes.playlist_item(e, key) for e in page],
        f"{shapes.base}/v1/playlists/{playlist.id}/{tail}",
        [],
        total=len(playlist.items),
        limit=limit,
        offset=offset,
    )
    return json_response(body)


@_api
async def playlist_items(request: Request) -> Response:
    return await _list_items(request, "item")


@_api
async def get_playlist(request: Request) -> Response:
    caller = _caller(request)
    return json_response(_shapes(request).playlist(_own_playlist(request, caller)))


@_api
async def my_playlists(request: Request) -> Response:
    caller = _caller(request)
    return _playlists_of(request, caller.user_id)


def _playlists_of(request: Request, user_id: str) -> Response:
    state, shapes = _state(request), _shapes(request)
    limit, offset = _limit(request, 20, 50), _offset(request)
    owned = [p for p in state.playlists.values() if user_id in p.followers]
    body = shapes.paging(
        [shapes.playlist(p, simple=True) for p in owned[offset : offset + limit]],
        f"{shapes.base}/v1/users/{user_id}/playlists",
        [],
        total=len(owned),
        limit=limit,
        offset=offset,
    )
    return json_response(body)


# OAS 2026-05-30: contains needs one of these scopes, remove one of the modify scopes.
LIBRARY_READ_SCOPES = ("user-library-read", "user-follow-read", "playlist-read-private")
LIBRARY_MODIFY_SCOPES = ("user-library-modify", "user-follow-modify", "playlist-modify-public")
_LIBRARY_TYPES = ("track", "album", "episode", "show", "audiobook", "artist", "user", "playlist")


def _library_uris(request: Request) -> list[tuple[str, str]]:
    raw = request.query_params.get("uris", "")
    uris = [u for u in raw.split(",") if u]
    if not uris:
        raise ApiError(400, "Missing uris parameter")
    if len(uris) > 40:
        raise ApiError(400, "Too many uris requested (maximum 40)")
    parsed = []
    for uri in uris:
        parts = uri.split(":")
        if len(parts) != 3 or parts[0] != "spotify" or parts[1] not in _LIBRARY_TYPES:
            raise ApiError(400, f"Invalid uri: {uri}")
        parsed.append((parts[1], parts[2]))
    return parsed


@_api
async def library_contains(request: Request) -> Response:
    caller = _caller(request, *LIBRARY_READ_SCOPES)
    state = _state(request)
    answer = []
    for kind, ident in _library_uris(request):
        playlist = state.playlists.get(ident) if kind == "playlist" else None
        # Only playlists are tracked in the emulator's libraries; anything else is not saved.
        answer.append(playlist is not None and caller.user_id in playlist.followers)
    return json_response(answer)


@_api
async def library_remove(request: Request) -> Response:
    caller = _caller(request, *LIBRARY_MODIFY_SCOPES)
    state = _state(request)
    for kind, ident in _library_uris(request):
        playlist = state.playlists.get(ident) if kind == "playlist" else None
        if playlist is not None:
            playlist.followers.discard(caller.user_id)
    return Response(status_code=200)
