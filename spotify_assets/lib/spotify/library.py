"""Playlist and library endpoints of `SpotifyClient` (a mixin, so the client file stays small).

2026 shapes: create with `POST /me/playlists`, add and read with `/playlists/{id}/items`, list
with `GET /me/playlists`, and `GET /me/library/contains` (40 URIs a request) for "is this in the
user's library" (a playlist the user deleted is no longer in it, though it still reads by id).
A POST that may have reached the server is never retried blindly by the transport (a 5xx after
it could mean it was applied); `playlists.ensure_playlist` reconciles instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import TYPE_CHECKING, Any

from spotify_assets.lib.ids import validate_spotify_id
from spotify_assets.lib.spotify.models import Playlist, PlaylistItem
from spotify_assets.lib.spotify.paging import PageProblem

if TYPE_CHECKING:
    from spotify_assets.lib.spotify.client import SpotifyClient

PLAYLIST_ADD_LIMIT = 100
PLAYLIST_ITEMS_LIMIT = 50
MY_PLAYLISTS_LIMIT = 50
LIBRARY_CONTAINS_LIMIT = 40


class LibraryEndpoints:
    """Playlist and library calls; mixed into SpotifyClient, whose request helpers they use."""

    def create_playlist(
        self: SpotifyClient, user_id: str, name: str, description: str
    ) -> Playlist:
        """A new private playlist of the user (`POST /me/playlists`; never retried blindly)."""
        body = {"name": name, "description": description, "public": False}
        response = self._call(user_id, "POST", "POST /v1/me/playlists", "/me/playlists",
                              json_body=body)
        return self._parse(user_id, "POST /v1/me/playlists", response, Playlist.model_validate)

    def add_playlist_items(
        self: SpotifyClient, user_id: str, playlist_id: str, uris: Iterable[str]
    ) -> str:
        """Append `uris` (100 per request, in order); returns the last snapshot id."""
        endpoint = "POST /v1/playlists/{id}/items"
        path = f"/playlists/{validate_spotify_id(playlist_id)}/items"
        uris = list(uris)
        bad = [uri for uri in uris if not isinstance(uri, str) or not uri.startswith("spotify:")]
        if bad:
            raise ValueError(f"not Spotify URIs for playlist {playlist_id}: {bad[:3]!r}")
        snapshot = ""
        for start in range(0, len(uris), PLAYLIST_ADD_LIMIT):
            chunk = uris[start:start + PLAYLIST_ADD_LIMIT]
            response = self._call(user_id, "POST", endpoint, path, json_body={"uris": chunk})
            snapshot = self._parse(user_id, endpoint, response, _snapshot_id)
        return snapshot

    def playlist_item_uris(self: SpotifyClient, user_id: str, playlist_id: str) -> list[str]:
        """URIs of every entry of the playlist, in playlist order (repeats kept)."""
        path = f"/playlists/{validate_spotify_id(playlist_id)}/items"
        items = self._offset_items(user_id, "GET /v1/playlists/{id}/items", path, {},
                                   PLAYLIST_ITEMS_LIMIT, PlaylistItem)
        return [item.track.uri for item in items if item.track is not None and item.track.uri]

    def my_playlists(self: SpotifyClient, user_id: str) -> list[Playlist]:
        """The playlists in the user's library (owned or followed), as Spotify lists them."""
        return self._offset_items(user_id, "GET /v1/me/playlists", "/me/playlists", {},
                                  MY_PLAYLISTS_LIMIT, Playlist)

    def library_contains(self: SpotifyClient, user_id: str, uris: Iterable[str]) -> list[bool]:
        """For each URI, whether it is in the user's library (40 URIs per request)."""
        uris = list(uris)
        found: list[bool] = []
        for start in range(0, len(uris), LIBRARY_CONTAINS_LIMIT):
            chunk = uris[start:start + LIBRARY_CONTAINS_LIMIT]
            found += self._get(user_id, "GET /v1/me/library/contains", "/me/library/contains",
                               {"uris": ",".join(chunk)}, partial(_booleans, count=len(chunk)))
        return found


def _snapshot_id(body: Any) -> str:
    if not isinstance(body, dict) or not isinstance(body.get("snapshot_id"), str):
        raise ValueError("answer has no snapshot_id")
    return body["snapshot_id"]


def _booleans(body: Any, count: int) -> list[bool]:
    if not isinstance(body, list) or len(body) != count or not all(
        isinstance(b, bool) for b in body
    ):
        raise PageProblem(f"expected a list of {count} booleans")
    return list(body)
