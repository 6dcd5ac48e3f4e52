"""The emulated Spotify Web API (`/v1/...`) in the 2026 Development-Mode shapes.

Dev mode (default) drops the fields Spotify removed in February 2026 (see `REMOVED_FIELDS`;
`external_ids` stays, the March 2026 revert) and answers 403 on the removed endpoints. With
`extended_quota` on, the removed fields come back and the removed endpoints work. Key order of
every object follows the recorded Spotify responses; hrefs and `next` URLs point at the emulator.
"""

from __future__ import annotations

import bisect
import json
import random
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from spotify_assets.emulator.faults import json_response, spotify_error
from spotify_assets.emulator.world import (
    COUNTED_MS,
    Album,
    Artist,
    Episode,
    Play,
    Track,
    World,
    datetime_to_ms,
    spotify_id,
    stable_digest,
)

if TYPE_CHECKING:
    from spotify_assets.emulator.accounts import IssuedToken
    from spotify_assets.emulator.app import EmulatorState

# Fields the February 2026 Development-Mode change removed (spotify.md §2), minus the
# March 2026 revert of `external_ids`, plus artist `genres` (gone in practice).
REMOVED_FIELDS: dict[str, tuple[str, ...]] = {
    "track": ("available_markets", "linked_from", "popularity"),
    "album": ("album_group", "available_markets", "label", "popularity"),
    "artist": ("followers", "genres", "popularity"),
    "user": ("country", "email", "explicit_content", "followers", "product"),
}
RECENTLY_PLAYED_REACH = 50
MARKETS = ("AR", "AU", "BR", "CA", "DE", "ES", "FR", "GB", "IS", "JP", "MX", "NL", "SE", "US")
ALBUM_GROUPS = ("album", "single", "compilation", "appears_on")
_ID = re.compile(r"^[0-9A-Za-z]{22}$")


class ApiError(Exception):
    """Answered as Spotify's `{"error": {"status", "message"}}` body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Playlist:
    id: str
    owner: str
    name: str
    description: str
    public: bool
    collaborative: bool
    items: list[tuple[str, str, str]] = field(default_factory=list)  # (uri, added_at, added_by)
    version: int = 1

    @property
    def snapshot_id(self) -> str:
        return stable_digest("snapshot", self.id, self.version)[:32]


@dataclass
class Caller:
    user_id: str
    scopes: frozenset[str]


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
            "release_date": album.release_date,
            "release_date_precision": "day",
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
        body["release_date"] = album.release_date
        body["release_date_precision"] = "day"
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
        body.update({
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
        })
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

    def playlist_item(
        self, entry: tuple[str, str, str], key: str = "item"
    ) -> dict[str, Any]:
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


Handler = Callable[[Request], Awaitable[Response]]


def _api(handler: Handler) -> Handler:
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except ApiError as exc:
            return spotify_error(exc.status, exc.message)

    wrapped.__name__ = handler.__name__
    wrapped.__doc__ = handler.__doc__
    return wrapped


# --------------------------------------------------------------------------------------------
# Endpoints
# --------------------------------------------------------------------------------------------


@_api
async def me(request: Request) -> Response:
    caller = _caller(request)
    return json_response(_shapes(request).me(caller.user_id))


def reachable_plays(state: EmulatorState, user_id: str) -> list[Play]:
    """The newest 50 counted track plays that ended by the emulator clock, newest first."""
    plays, keys = state.recent_index(user_id)
    end = bisect.bisect_right(keys, datetime_to_ms(state.clock.now()))
    return plays[max(0, end - RECENTLY_PLAYED_REACH) : end][::-1]


def _ms_param(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    if not raw.isdigit():
        raise ApiError(400, f"Invalid {name} parameter")
    return int(raw)


@_api
async def recently_played(request: Request) -> Response:
    caller = _caller(request, "user-read-recently-played")
    limit = _limit(request, 20, 50)
    after, before = _ms_param(request, "after"), _ms_param(request, "before")
    if after is not None and before is not None:
        raise ApiError(400, "Only one of after or before may be specified")
    plays = reachable_plays(_state(request), caller.user_id)
    keyed = [(datetime_to_ms(p.ended_at), p) for p in plays]
    if before is not None:
        page = [kp for kp in keyed if kp[0] < before][:limit]
    elif after is not None:
        # The `limit` plays right after the cursor, still newest first.
        page = [kp for kp in keyed if kp[0] > after][-limit:]
    else:
        page = keyed[:limit]
    shapes = _shapes(request)
    path = f"{shapes.base}/v1/me/player/recently-played"
    query = [(n, str(v)) for n, v in (("after", after), ("before", before)) if v is not None]
    cursors = {"after": str(page[0][0]), "before": str(page[-1][0])} if page else None
    body = {
        "items": [
            {
                "track": shapes.track(_track_of(request, p)),
                "played_at": _iso_ms(p),
                "context": shapes.context(p.context_uri),
            }
            for _, p in page
        ],
        "next": (
            f"{path}?" + urlencode([("before", page[-1][0]), ("limit", limit)])
            if page and len(page) == limit
            else None
        ),
        "cursors": cursors,
        "limit": limit,
        "href": f"{path}?" + urlencode([*query, ("limit", limit)]),
    }
    return json_response(body)


def _track_of(request: Request, play: Play) -> Track:
    return _state(request).world.tracks[play.item_id]


def _iso_ms(play: Play) -> str:
    ended = play.ended_at
    return ended.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ended.microsecond // 1000:03d}Z"


@_api
async def top_items(request: Request) -> Response:
    caller = _caller(request, "user-top-read")
    kind = request.path_params["type"]
    if kind not in ("artists", "tracks"):
        raise ApiError(400, "Unsupported type")
    time_range = request.query_params.get("time_range", "medium_term")
    if time_range not in ("short_term", "medium_term", "long_term"):
        raise ApiError(400, "Invalid time range")
    limit, offset = _limit(request, 20, 50), _offset(request)
    state, shapes = _state(request), _shapes(request)
    ids = state.world.top(caller.user_id, kind, time_range)
    page = ids[offset : offset + limit]
    if kind == "tracks":
        items = [shapes.track(state.world.tracks[i]) for i in page]
    else:
        items = [shapes.artist(state.world.artists[i]) for i in page]
    body = shapes.paging(
        items,
        f"{shapes.base}/v1/me/top/{kind}",
        [("time_range", time_range)],
        total=len(ids),
        limit=limit,
        offset=offset,
    )
    # Spotify orders these keys differently from other pages (recorded fixture).
    order = ("items", "total", "limit", "offset", "href", "previous", "next")
    return json_response({key: body[key] for key in order})


@_api
async def following(request: Request) -> Response:
    caller = _caller(request, "user-follow-read")
    kind = request.query_params.get("type")
    if kind != "artist":
        raise ApiError(400, "type must be artist")
    limit = _limit(request, 20, 50)
    after = request.query_params.get("after")
    state, shapes = _state(request), _shapes(request)
    followed = sorted(state.world.users[caller.user_id].followed_artist_ids)
    rest = [a for a in followed if after is None or a > after]
    page = rest[:limit]
    path = f"{shapes.base}/v1/me/following"
    more = len(rest) > limit
    query = [("type", "artist"), *([("after", after)] if after else []), ("limit", limit)]
    body = {
        "artists": {
            "items": [shapes.artist(state.world.artists[a]) for a in page],
            "next": (
                f"{path}?" + urlencode([("type", "artist"), ("after", page[-1]), ("limit", limit)])
                if more
                else None
            ),
            "total": len(followed),
            "cursors": {"after": page[-1] if more else None},
            "limit": limit,
            "href": f"{path}?" + urlencode(query),
        }
    }
    return json_response(body)


@_api
async def artist(request: Request) -> Response:
    _caller(request)
    found = _lookup(_state(request).world.artists, request.path_params["id"])
    return json_response(_shapes(request).artist(found))


def _discography(world: World, artist_id: str, groups: list[str]) -> list[tuple[str, Album]]:
    rank = {t: i for i, t in enumerate(ALBUM_GROUPS)}
    found: list[tuple[str, Album]] = []
    for album_id in world.artist_album_ids[artist_id]:
        album = world.albums[album_id]
        if album.album_type in groups:
            found.append((album.album_type, album))
    if "appears_on" in groups:
        found.extend(("appears_on", world.albums[a]) for a in world.appears_on(artist_id))
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
    albums = _discography(state.world, found.id, groups)
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
        known = len(parts) == 3 and parts[0] == "spotify" and (
            (parts[1] == "track" and parts[2] in world.tracks)
            or (parts[1] == "episode" and parts[2] in world.episodes)
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
    owned = [p for p in state.playlists.values() if p.owner == user_id]
    body = shapes.paging(
        [shapes.playlist(p, simple=True) for p in owned[offset : offset + limit]],
        f"{shapes.base}/v1/users/{user_id}/playlists",
        [],
        total=len(owned),
        limit=limit,
        offset=offset,
    )
    return json_response(body)


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
        items = [shapes.album(state.world.albums[i]) if i in state.world.albums else None
                 for i in ids]
    elif kind == "artists":
        ids = _batch(request, 50)
        items = [shapes.artist(state.world.artists[i]) if i in state.world.artists else None
                 for i in ids]
    else:
        ids = _batch(request, 50)
        items = [shapes.track(state.world.tracks[i]) if i in state.world.tracks else None
                 for i in ids]
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
        Route("/v1/artists/{id}/albums", artist_albums, methods=["GET"]),
        Route("/v1/artists/{id}/top-tracks", artist_top_tracks, methods=["GET"]),
        Route("/v1/artists/{id}", artist, methods=["GET"]),
        Route("/v1/artists", several, methods=["GET"]),
        Route("/v1/albums/{id}/tracks", album_tracks, methods=["GET"]),
        Route("/v1/albums/{id}", album, methods=["GET"]),
        Route("/v1/albums", several, methods=["GET"]),
        Route("/v1/tracks/{id}", track, methods=["GET"]),
        Route("/v1/tracks", several, methods=["GET"]),
        Route("/v1/browse/new-releases", new_releases, methods=["GET"]),
        Route("/v1/users/{user_id}/playlists", user_playlists, methods=["GET", "POST"]),
        Route("/v1/users/{user_id}", user_profile, methods=["GET"]),
        Route("/v1/playlists/{id}/items", playlist_items, methods=["GET"]),
        Route("/v1/playlists/{id}/items", add_playlist_items, methods=["POST"]),
        Route("/v1/playlists/{id}/tracks", playlist_tracks, methods=["GET", "POST"]),
        Route("/v1/playlists/{id}", get_playlist, methods=["GET"]),
        Route("/v1/{rest:path}", not_found),
    ]


def recent_index(world: World, user_id: str) -> tuple[list[Play], list[int]]:
    """Counted track plays of a user (oldest first) and their ended_at in ms, for bisect."""
    plays = [
        p for p in world.plays(user_id) if p.kind == "track" and p.ms_played >= COUNTED_MS
    ]
    return plays, [datetime_to_ms(p.ended_at) for p in plays]


def playlist_id(seed: int, serial: int) -> str:
    """Deterministic playlist ids: the n-th playlist created in a world of this seed."""
    return spotify_id(random.Random(f"{seed}:playlist:{serial}"))
