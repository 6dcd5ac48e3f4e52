"""Catalogue lookups: `/v1/artists/{id}`, an artist's albums (`include_groups`, in Spotify's
discography order: grouped album, single, compilation, appears_on, newest first within a group;
only releases out by the emulator clock; Development Mode caps `limit` at 10), `/v1/albums/{id}`,
an album's tracks and `/v1/tracks/{id}`.
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
    _shapes,
    _state,
)
from spotify_assets.emulator.world import Album, World, datetime_to_ms

ALBUM_GROUPS = ("album", "single", "compilation", "appears_on")


@_api
async def artist(request: Request) -> Response:
    _caller(request)
    found = _lookup(_state(request).world.artists, request.path_params["id"])
    return json_response(_shapes(request).artist(found))


def discography(
    world: World, artist_id: str, groups: list[str], until_ms: int | None = None
) -> list[tuple[str, Album]]:
    """(album_group, album) as `/artists/{id}/albums` lists them: grouped in ALBUM_GROUPS order,
    newest first within a group (ties by id); with `until_ms`, only releases out by then (a
    release is out from 00:00 UTC of its day)."""
    rank = {t: i for i, t in enumerate(ALBUM_GROUPS)}
    found: list[tuple[str, Album]] = []
    for album_id in world.artist_album_ids[artist_id]:
        album = world.albums[album_id]
        if album.album_type in groups:
            found.append((album.album_type, album))
    if "appears_on" in groups:
        found.extend(("appears_on", world.albums[a]) for a in world.appears_on(artist_id))
    if until_ms is not None:
        found = [ga for ga in found if world.album_release_ms[ga[1].id] <= until_ms]
    found.sort(key=lambda ga: (rank[ga[0]], _desc(ga[1].release_date), ga[1].id))
    return found


def _desc(text: str) -> tuple[int, ...]:
    return tuple(-ord(ch) for ch in text)


@_api
async def artist_albums(request: Request) -> Response:
    _caller(request)
    state, shapes = _state(request), _shapes(request)
    found = _lookup(state.world.artists, request.path_params["id"])
    raw_groups = request.query_params.get("include_groups", ",".join(ALBUM_GROUPS))
    groups = [g.strip() for g in raw_groups.split(",") if g.strip()]
    if not groups or any(g not in ALBUM_GROUPS for g in groups):
        raise ApiError(400, "Invalid include_groups")
    # Development mode cut the maximum to 10 (Feb 2026); extended-quota apps keep 50.
    limit = _limit(request, 5, 50 if state.extended_quota else 10)
    offset = _offset(request)
    albums = discography(state.world, found.id, groups, datetime_to_ms(state.clock.now()))
    page = albums[offset : offset + limit]
    body = shapes.paging(
        [shapes.album_simple(album, group) for group, album in page],
        f"{shapes.base}/v1/artists/{found.id}/albums",
        [("include_groups", ",".join(groups))],
        total=len(albums),
        limit=limit,
        offset=offset,
    )
    return json_response(body)


@_api
async def album(request: Request) -> Response:
    _caller(request)
    found = _lookup(_state(request).world.albums, request.path_params["id"])
    return json_response(_shapes(request).album(found))


@_api
async def album_tracks(request: Request) -> Response:
    _caller(request)
    state, shapes = _state(request), _shapes(request)
    found = _lookup(state.world.albums, request.path_params["id"])
    limit, offset = _limit(request, 20, 50), _offset(request)
    page = found.track_ids[offset : offset + limit]
    body = shapes.paging(
        [shapes.track_simple(state.world.tracks[t]) for t in page],
        f"{shapes.base}/v1/albums/{found.id}/tracks",
        [],
        total=len(found.track_ids),
        limit=limit,
        offset=offset,
    )
    return json_response(body)


@_api
async def track(request: Request) -> Response:
    _caller(request)
    found = _lookup(_state(request).world.tracks, request.path_params["id"])
    return json_response(_shapes(request).track(found))
