"""The emulated Spotify Web API (`/v1/...`) in the 2026 Development-Mode shapes.

Dev mode (default) drops the fields Spotify removed in February 2026 (see `REMOVED_FIELDS`;
`external_ids` stays, the March 2026 revert) and answers 403 on the removed endpoints. With
`extended_quota` on, the removed fields come back and the removed endpoints work. Key order of
every object follows the recorded Spotify responses; hrefs and `next` URLs point at the emulator.

Modules: `errors` (ApiError and the `_api` wrapper), `models` (Playlist, Caller, playlist ids),
`shapes` (the JSON objects and paging), `request` (token, scope and parameter checks),
`routes_me`, `routes_catalog`, `routes_search`, `routes_playlists` and `routes_removed` (the
endpoints by family); `routes()` and the catch-all 404 are here. Importers use
`from spotify_assets.emulator.spotify_api import ...`.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from spotify_assets.emulator.spotify_api.errors import ApiError, Handler, _api
from spotify_assets.emulator.spotify_api.models import Caller, Playlist, playlist_id
from spotify_assets.emulator.spotify_api.recent import recent_index
from spotify_assets.emulator.spotify_api.request import access_token
from spotify_assets.emulator.spotify_api.routes_catalog import (
    ALBUM_GROUPS,
    album,
    album_tracks,
    artist,
    artist_albums,
    discography,
    track,
)
from spotify_assets.emulator.spotify_api.routes_me import (
    RECENTLY_PLAYED_REACH,
    following,
    me,
    newest_known,
    reachable_plays,
    recent_page,
    recently_played,
    top_items,
)
from spotify_assets.emulator.spotify_api.routes_playlists import (
    MODIFY_SCOPES,
    add_playlist_items,
    create_playlist,
    get_playlist,
    library_contains,
    library_remove,
    my_playlists,
    playlist_items,
)
from spotify_assets.emulator.spotify_api.routes_removed import (
    artist_top_tracks,
    new_releases,
    playlist_tracks,
    several,
    user_playlists,
    user_profile,
)
from spotify_assets.emulator.spotify_api.routes_search import search
from spotify_assets.emulator.spotify_api.shapes import MARKETS, REMOVED_FIELDS, Shapes

__all__ = [
    "ALBUM_GROUPS",
    "MARKETS",
    "MODIFY_SCOPES",
    "RECENTLY_PLAYED_REACH",
    "REMOVED_FIELDS",
    "ApiError",
    "Caller",
    "Handler",
    "Playlist",
    "Shapes",
    "access_token",
    "add_playlist_items",
    "album",
    "album_tracks",
    "artist",
    "artist_albums",
    "artist_top_tracks",
    "create_playlist",
    "discography",
    "following",
    "get_playlist",
    "library_contains",
    "library_remove",
    "me",
    "my_playlists",
    "new_releases",
    "newest_known",
    "not_found",
    "playlist_id",
    "playlist_items",
    "playlist_tracks",
    "reachable_plays",
    "recent_index",
    "recent_page",
    "recently_played",
    "routes",
    "search",
    "several",
    "top_items",
    "track",
    "user_playlists",
    "user_profile",
]


@_api
async def not_found(request: Request) -> Response:
    raise ApiError(404, "Service not found")


def routes() -> list[Route]:
    return [
        Route("/v1/me", me, methods=["GET"]),
        Route("/v1/me/player/recently-played", recently_played, methods=["GET"]),
        Route("/v1/me/top/{type}", top_items, methods=["GET"]),
        Route("/v1/me/following", following, methods=["GET"]),
        Route("/v1/me/playlists", my_playlists, methods=["GET"]),
        Route("/v1/me/playlists", create_playlist, methods=["POST"]),
        Route("/v1/me/library/contains", library_contains, methods=["GET"]),
        Route("/v1/me/library", library_remove, methods=["DELETE"]),
        Route("/v1/artists/{id}/albums", artist_albums, methods=["GET"]),
        Route("/v1/artists/{id}/top-tracks", artist_top_tracks, methods=["GET"]),
        Route("/v1/artists/{id}", artist, methods=["GET"]),
        Route("/v1/artists", several, methods=["GET"]),
        Route("/v1/albums/{id}/tracks", album_tracks, methods=["GET"]),
        Route("/v1/albums/{id}", album, methods=["GET"]),
        Route("/v1/albums", several, methods=["GET"]),
        Route("/v1/tracks/{id}", track, methods=["GET"]),
        Route("/v1/tracks", several, methods=["GET"]),
        Route("/v1/search", search, methods=["GET"]),
        Route("/v1/browse/new-releases", new_releases, methods=["GET"]),
        Route("/v1/users/{user_id}/playlists", user_playlists, methods=["GET", "POST"]),
        Route("/v1/users/{user_id}", user_profile, methods=["GET"]),
        Route("/v1/playlists/{id}/items", playlist_items, methods=["GET"]),
        Route("/v1/playlists/{id}/items", add_playlist_items, methods=["POST"]),
        Route("/v1/playlists/{id}/tracks", playlist_tracks, methods=["GET", "POST"]),
        Route("/v1/playlists/{id}", get_playlist, methods=["GET"]),
        Route("/v1/{rest:path}", not_found),
    ]
