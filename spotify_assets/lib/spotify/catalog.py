"""Catalog endpoints of `SpotifyClient`: artists, their albums, albums, tracks and new releases
(a mixin, so the client file stays small). Every call is made with a listener's token.

2026 development mode: artist albums page at 10 (was 50), new releases answer 403 (extended
quota only), and there is no batch lookup (`GET /tracks?ids=` and friends are gone).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING

from spotify_assets.lib.ids import validate_spotify_id
from spotify_assets.lib.spotify.models import (
    Album,
    Artist,
    Paging,
    SimplifiedAlbum,
    SimplifiedTrack,
    Track,
)
from spotify_assets.lib.spotify.paging import parse_offset_page

if TYPE_CHECKING:
    from spotify_assets.lib.spotify.client import SpotifyClient

# Maximum `limit` per endpoint in 2026 development mode (artist albums was cut from 50 to 10).
ARTIST_ALBUMS_LIMIT = 10
ALBUM_TRACKS_LIMIT = 50
NEW_RELEASES_LIMIT = 50


class CatalogEndpoints:
    """Catalog calls; mixed into SpotifyClient, whose request helpers they use."""

    def artist(self: SpotifyClient, user_id: str, artist_id: str) -> Artist:
        path = f"/artists/{validate_spotify_id(artist_id)}"
        return self._get(user_id, "GET /v1/artists/{id}", path, {}, Artist.model_validate)

    def artist_albums(
        self: SpotifyClient,
        user_id: str,
        artist_id: str,
        include_groups: Sequence[str] = ("album", "single"),
    ) -> list[SimplifiedAlbum]:
        """Every album of the artist in `include_groups`, 10 per page (the dev-mode maximum)."""
        path = f"/artists/{validate_spotify_id(artist_id)}/albums"
        params = {"include_groups": ",".join(include_groups)}
        return self._offset_items(user_id, "GET /v1/artists/{id}/albums", path, params,
                                  ARTIST_ALBUMS_LIMIT, SimplifiedAlbum)

    def artist_albums_page(
        self: SpotifyClient,
        user_id: str,
        artist_id: str,
        include_groups: Sequence[str],
        offset: int = 0,
    ) -> Paging[SimplifiedAlbum]:
        """One page (10 items from `offset`) of the artist's albums in Spotify's order, for
        callers that stop paging early (see `discography.py`)."""
        path = f"/artists/{validate_spotify_id(artist_id)}/albums"
        params = {"include_groups": ",".join(include_groups), "limit": ARTIST_ALBUMS_LIMIT,
                  "offset": offset}
        return self._get(
            user_id, "GET /v1/artists/{id}/albums", path, params,
            partial(parse_offset_page, model=SimplifiedAlbum, offset=offset,
                    limit=ARTIST_ALBUMS_LIMIT),
        )

    def album(self: SpotifyClient, user_id: str, album_id: str) -> Album:
        path = f"/albums/{validate_spotify_id(album_id)}"
        return self._get(user_id, "GET /v1/albums/{id}", path, {}, Album.model_validate)

    def album_tracks(self: SpotifyClient, user_id: str, album_id: str) -> list[SimplifiedTrack]:
        """Every track of the album, in album order."""
        path = f"/albums/{validate_spotify_id(album_id)}/tracks"
        return self._offset_items(user_id, "GET /v1/albums/{id}/tracks", path, {},
                                  ALBUM_TRACKS_LIMIT, SimplifiedTrack)

    def track(self: SpotifyClient, user_id: str, track_id: str) -> Track:
        path = f"/tracks/{validate_spotify_id(track_id)}"
        return self._get(user_id, "GET /v1/tracks/{id}", path, {}, Track.model_validate)

    def new_releases(self: SpotifyClient, user_id: str) -> list[SimplifiedAlbum]:
        """Spotify's new releases; extended quota only (dev mode -> EndpointRemovedError)."""
        return self._offset_items(user_id, "GET /v1/browse/new-releases", "/browse/new-releases",
                                  {}, NEW_RELEASES_LIMIT, SimplifiedAlbum, unwrap="albums")
