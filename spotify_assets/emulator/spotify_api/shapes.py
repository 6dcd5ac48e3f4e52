"""Spotify JSON objects: `Shapes` builds artists, albums, tracks, episodes, users, playlists,
contexts and offset paging for one request (base URL, dev mode or extended quota), in the key
order of the recorded Spotify responses. Development Mode leaves out the fields listed in
`REMOVED_FIELDS`; extended quota puts them back.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from spotify_assets.emulator.spotify_api.models import Playlist
from spotify_assets.emulator.world import Album, Artist, Episode, Track, World, stable_digest

# Fields the February 2026 Development-Mode change removed (spotify.md §2), minus the
# March 2026 revert of `external_ids`, plus artist `genres` (gone in practice).
REMOVED_FIELDS: dict[str, tuple[str, ...]] = {
    "track": ("available_markets", "linked_from", "popularity"),
    "album": ("album_group", "available_markets", "label", "popularity"),
    "artist": ("followers", "genres", "popularity"),
    "user": ("country", "email", "explicit_content", "followers", "product"),
}
MARKETS = ("AR", "AU", "BR", "CA", "DE", "ES", "FR", "GB", "IS", "JP", "MX", "NL", "SE", "US")


# --------------------------------------------------------------------------------------------
# Object shapes
# --------------------------------------------------------------------------------------------


class Shapes:
    """Builds Spotify JSON objects for one request (base URL, dev mode or extended quota)."""

    def __init__(self, world: World, base: str, extended: bool) -> None:
        self.world = world
        self.base = base
        self.extended = extended

    def _urls(self, kind: str, ident: str) -> dict[str, str]:
        return {"spotify": f"https://open.spotify.com/{kind}/{ident}"}

    def _images(self, kind: str, ident: str) -> list[dict[str, Any]]:
        digest = stable_digest("image", ident)[:24]
        prefixes = (
            {640: "ab67616d0000b273", 300: "ab67616d00001e02", 64: "ab67616d00004851"}
            if kind == "album"
            else {640: "ab6761610000e5eb", 320: "ab67616100005174", 160: "ab6761610000f178"}
        )
        return [
            {"height": size, "url": f"https://i.scdn.co/image/{prefix}{digest}", "width": size}
            for size, prefix in prefixes.items()
        ]

    def artist_simple(self, artist: Artist) -> dict[str, Any]:
        return {
            "external_urls": self._urls("artist", artist.id),
            "href": f"{self.base}/v1/artists/{artist.id}",
            "id": artist.id,
            "name": artist.name,
            "type": "artist",
            "uri": f"spotify:artist:{artist.id}",
        }

    def artist(self, artist: Artist) -> dict[str, Any]:
        body: dict[str, Any] = {"external_urls": self._urls("artist", artist.id)}
        if self.extended:
            body["followers"] = {"href": None, "total": artist.followers}
            body["genres"] = list(artist.genres)
        body["href"] = f"{self.base}/v1/artists/{artist.id}"
        body["id"] = artist.id
        body["images"] = self._images("artist", artist.id)
        body["name"] = artist.name
        if self.extended:
            body["popularity"] = artist.popularity
        body["type"] = "artist"
        body["uri"] = f"spotify:artist:{artist.id}"
        return body

    def album_simple(self, album: Album, group: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if group is not None and self.extended:
            body["album_group"] = group
        body["album_type"] = album.album_type
        body["artists"] = [self.artist_simple(self.world.artists[a]) for a in album.artist_ids]
        if self.extended:
            body["available_markets"] = list(MARKETS)
        body.update(self._album_common(album))
        return body

    def _album_common(self, album: Album) -> dict[str, Any]:
        return {
            "external_urls": self._urls("album", album.id),
            "href": f"{self.base}/v1/albums/{album.id}",
            "id": album.id,
            "images": self._images("album", album.id),
            "name": album.name,
            "release_date": album.shown_release_date,
            "release_date_precision": album.release_date_precision,
            "total_tracks": len(album.track_ids),
            "type": "album",
            "uri": f"spotify:album:{album.id}",
        }

    def album(self, album: Album) -> dict[str, Any]:
        common = self._album_common(album)
        year = album.release_date[:4]
        body: dict[str, Any] = {
            "album_type": album.album_type,
            "artists": [self.artist_simple(self.world.artists[a]) for a in album.artist_ids],
        }
        if self.extended:
            body["available_markets"] = list(MARKETS)
        body["copyrights"] = [
            {"text": f"\u00a9 {year} {album.label}", "type": "C"},
            {"text": f"\u2117 {year} {album.label}", "type": "P"},
        ]
        body["external_ids"] = {"upc": album.upc}
        body["external_urls"] = common["external_urls"]
        body["genres"] = []
        body["href"] = common["href"]
        body["id"] = album.id
        body["images"] = common["images"]
        if self.extended:
            body["label"] = album.label
        body["name"] = album.name
        if self.extended:
            body["popularity"] = album.popularity
        body["release_date"] = album.shown_release_date
        body["release_date_precision"] = album.release_date_precision
        body["total_tracks"] = len(album.track_ids)
        body["tracks"] = self.paging(
            [self.track_simple(self.world.tracks[t]) for t in album.track_ids[:50]],
            f"{self.base}/v1/albums/{album.id}/tracks",
            [],
            total=len(album.track_ids),
            limit=50,
            offset=0,
        )
        body["type"] = "album"
        body["uri"] = common["uri"]
        return body

    def track_simple(self, track: Track) -> dict[str, Any]:
        body: dict[str, Any] = {
            "artists": [self.artist_simple(self.world.artists[a]) for a in track.artist_ids]
        }
        if self.extended:
            body["available_markets"] = list(MARKETS)
        body.update(
            {
                "disc_number": track.disc_number,
                "duration_ms": track.duration_ms,
                "explicit": track.explicit,
                "external_urls": self._urls("track", track.id),
                "href": f"{self.base}/v1/tracks/{track.id}",
                "id": track.id,
                "is_local": False,
                "name": track.name,
                "preview_url": None,
                "track_number": track.track_number,
                "type": "track",
                "uri": f"spotify:track:{track.id}",
            }
        )
        return body

    def track(self, track: Track) -> dict[str, Any]:
        body: dict[str, Any] = {
            "album": self.album_simple(self.world.albums[track.album_id]),
            "artists": [self.artist_simple(self.world.artists[a]) for a in track.artist_ids],
        }
        if self.extended:
            body["available_markets"] = list(MARKETS)
        body["disc_number"] = track.disc_number
        body["duration_ms"] = track.duration_ms
        body["explicit"] = track.explicit
        body["external_ids"] = {"isrc": track.isrc}
        body["external_urls"] = self._urls("track", track.id)
        body["href"] = f"{self.base}/v1/tracks/{track.id}"
        body["id"] = track.id
        body["is_local"] = False
        body["name"] = track.name
        if self.extended:
            body["popularity"] = track.popularity
        body["preview_url"] = None
        body["track_number"] = track.track_number
        body["type"] = "track"
        body["uri"] = f"spotify:track:{track.id}"
        return body

    def episode(self, episode: Episode) -> dict[str, Any]:
        return {
            "description": "",
            "duration_ms": episode.duration_ms,
            "explicit": False,
            "external_urls": self._urls("episode", episode.id),
            "href": f"{self.base}/v1/episodes/{episode.id}",
            "id": episode.id,
            "images": self._images("album", episode.show_id),
            "is_externally_hosted": False,
            "is_playable": True,
            "languages": ["en"],
            "name": episode.name,
            "release_date": episode.release_date,
            "release_date_precision": "day",
            "type": "episode",
            "uri": f"spotify:episode:{episode.id}",
        }

    def user_ref(self, user_id: str) -> dict[str, Any]:
        return {
            "external_urls": self._urls("user", user_id),
            "href": f"{self.base}/v1/users/{user_id}",
            "id": user_id,
            "type": "user",
            "uri": f"spotify:user:{user_id}",
        }

    def me(self, user_id: str) -> dict[str, Any]:
        user = self.world.users[user_id]
        body: dict[str, Any] = {"account_id": user.account_id}
        if self.extended:
            body["country"] = user.country
        body["display_name"] = user.display_name
        if self.extended:
            body["email"] = f"{user.id}@example.org"
            body["explicit_content"] = {"filter_enabled": False, "filter_locked": False}
        body["external_urls"] = self._urls("user", user.id)
        if self.extended:
            body["followers"] = {"href": None, "total": 0}
        body["href"] = f"{self.base}/v1/users/{user.id}"
        body["id"] = user.id
        body["images"] = []
        if self.extended:
            body["product"] = "premium"
        body["type"] = "user"
        body["uri"] = f"spotify:user:{user.id}"
        return body

    def context(self, uri: str | None) -> dict[str, Any] | None:
        if uri is None:
            return None
        _, kind, ident = uri.split(":")
        return {
            "type": kind,
            "href": f"{self.base}/v1/{kind}s/{ident}",
            "external_urls": self._urls(kind, ident),
            "uri": uri,
        }

    def playlist_item(self, entry: tuple[str, str, str], key: str = "item") -> dict[str, Any]:
        uri, added_at, added_by = entry
        _, kind, ident = uri.split(":")
        item = (
            self.track(self.world.tracks[ident])
            if kind == "track"
            else self.episode(self.world.episodes[ident])
        )
        return {
            "added_at": added_at,
            "added_by": self.user_ref(added_by),
            "is_local": False,
            key: item,
        }

    def playlist(self, playlist: Playlist, simple: bool = False) -> dict[str, Any]:
        owner = self.world.users[playlist.owner]
        href = f"{self.base}/v1/playlists/{playlist.id}"
        body: dict[str, Any] = {
            "collaborative": playlist.collaborative,
            "description": playlist.description,
            "external_urls": self._urls("playlist", playlist.id),
        }
        if not simple:
            body["followers"] = {"href": None, "total": 0}
        body["href"] = href
        body["id"] = playlist.id
        body["images"] = []
        if simple:
            body["items"] = {"href": f"{href}/items", "total": len(playlist.items)}
        else:
            entries = playlist.items[:100]
            body["items"] = self.paging(
                [self.playlist_item(e) for e in entries],
                f"{href}/items",
                [],
                total=len(playlist.items),
                limit=100,
                offset=0,
            )
        body["name"] = playlist.name
        body["owner"] = {**self.user_ref(owner.id), "display_name": owner.display_name}
        body["public"] = playlist.public
        body["snapshot_id"] = playlist.snapshot_id
        body["type"] = "playlist"
        body["uri"] = f"spotify:playlist:{playlist.id}"
        return body

    @staticmethod
    def paging(
        items: list[Any],
        path: str,
        params: list[tuple[str, str]],
        *,
        total: int,
        limit: int,
        offset: int,
    ) -> dict[str, Any]:
        """Offset paging `{href, items, limit, next, offset, previous, total}`."""

        def url(at: int) -> str:
            return f"{path}?" + urlencode([("offset", at), ("limit", limit), *params])

        return {
            "href": url(offset),
            "items": items,
            "limit": limit,
            "next": url(offset + limit) if offset + limit < total else None,
            "offset": offset,
            "previous": url(max(0, offset - limit)) if offset > 0 else None,
            "total": total,
        }
