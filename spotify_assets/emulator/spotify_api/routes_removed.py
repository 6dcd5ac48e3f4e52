"""Endpoints Spotify removed for Development-Mode apps, answered `403 Forbidden` unless extended
quota is on: `/v1/browse/new-releases`, the `?ids=` batches of albums, artists and tracks, an
artist's top tracks, `/v1/users/{id}` and its playlists, and `/v1/playlists/{id}/tracks`.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from spotify_assets.emulator.faults import json_response
from spotify_assets.emulator.spotify_api.errors import ApiError, _api
from spotify_assets.emulator.spotify_api.request import (
    _caller,
    _limit,
    _lookup,
    _offset,
    _removed,
    _shapes,
    _state,
)
from spotify_assets.emulator.spotify_api.routes_catalog import _desc
from spotify_assets.emulator.spotify_api.routes_playlists import (
    _add_items,
    _create_playlist,
    _list_items,
    _playlists_of,
)

# --------------------------------------------------------------------------------------------
# Endpoints removed for Development Mode (work with extended quota)
# --------------------------------------------------------------------------------------------


@_api
async def new_releases(request: Request) -> Response:
    _caller(request)
    _removed(request)
    state, shapes = _state(request), _shapes(request)
    limit, offset = _limit(request, 20, 50), _offset(request)
    today = state.clock.now().date().isoformat()
    albums = sorted(
        (a for a in state.world.albums.values() if a.release_date <= today),
        key=lambda a: (_desc(a.release_date), a.id),
    )[:100]
    body = shapes.paging(
        [shapes.album_simple(a) for a in albums[offset : offset + limit]],
        f"{shapes.base}/v1/browse/new-releases",
        [],
        total=len(albums),
        limit=limit,
        offset=offset,
    )
    return json_response({"albums": body})


def _batch(request: Request, maximum: int) -> list[str]:
    raw = request.query_params.get("ids", "")
    ids = [i for i in raw.split(",") if i]
    if not ids:
        raise ApiError(400, "invalid id")
    if len(ids) > maximum:
        raise ApiError(400, "Too many ids requested")
    return ids


@_api
async def several(request: Request) -> Response:
    _caller(request)
    _removed(request)
    state, shapes = _state(request), _shapes(request)
    kind = request.url.path.rsplit("/", 1)[-1]
    if kind == "albums":
        ids = _batch(request, 20)
        items = [
            shapes.album(state.world.albums[i]) if i in state.world.albums else None for i in ids
        ]
    elif kind == "artists":
        ids = _batch(request, 50)
        items = [
            shapes.artist(state.world.artists[i]) if i in state.world.artists else None for i in ids
        ]
    else:
        ids = _batch(request, 50)
        items = [
            shapes.track(state.world.tracks[i]) if i in state.world.tracks else None for i in ids
        ]
    return json_response({kind: items})


@_api
async def artist_top_tracks(request: Request) -> Response:
    _caller(request)
    _removed(request)
    state, shapes = _state(request), _shapes(request)
    found = _lookup(state.world.artists, request.path_params["id"])
    tracks = state.world.artist_track_ids[found.id][:10]
    return json_response({"tracks": [shapes.track(state.world.tracks[t]) for t in tracks]})


@_api
async def user_profile(request: Request) -> Response:
    _caller(request)
    _removed(request)
    state, shapes = _state(request), _shapes(request)
    user_id = request.path_params["user_id"]
    if user_id not in state.world.users:
        raise ApiError(404, "Resource not found")
    user = state.world.users[user_id]
    body = {
        "display_name": user.display_name,
        "external_urls": shapes._urls("user", user_id),
        "followers": {"href": None, "total": 0},
        "href": f"{shapes.base}/v1/users/{user_id}",
        "id": user_id,
        "images": [],
        "type": "user",
        "uri": f"spotify:user:{user_id}",
    }
    return json_response(body)


@_api
async def user_playlists(request: Request) -> Response:
    _caller(request)
    _removed(request)
    user_id = request.path_params["user_id"]
    if request.method == "POST":
        return await _create_playlist(request, owner_id=user_id)
    return _playlists_of(request, user_id)


@_api
async def playlist_tracks(request: Request) -> Response:
    _caller(request)
    _removed(request)
    if request.method == "POST":
        return await _add_items(request)
    return await _list_items(request, "track")
