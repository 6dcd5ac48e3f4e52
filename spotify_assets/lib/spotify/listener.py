"""The listener's own data, as `SpotifyClient` reads it: profile, recently played, top items and
followed artists (a mixin, so the client file stays small). Every call is the listener's own,
made with their token.

Recently played and follows page on cursors, walked here; top items page on offsets
(`SpotifyClient._offset_items`).
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any, Literal, overload

from spotify_assets.lib.spotify.errors import MalformedResponseError
from spotify_assets.lib.spotify.models import (
    Artist,
    Cursors,
    PlayHistoryItem,
    RecentlyPlayedPage,
    Track,
    UserProfile,
)
from spotify_assets.lib.spotify.paging import (
    MAX_PAGES,
    cursor_ms,
    parse_followed_page,
    parse_recent_page,
    unix_ms,
)
from spotify_assets.lib.spotify.transport import http_date

if TYPE_CHECKING:
    from spotify_assets.lib.spotify.client import SpotifyClient

# Maximum `limit` per endpoint in 2026 development mode (catalog.py has the catalog's).
TOP_ITEMS_LIMIT = 50
FOLLOWING_LIMIT = 50
RECENTLY_PLAYED_LIMIT = 50

TopKind = Literal["tracks", "artists"]
TimeRange = Literal["short_term", "medium_term", "long_term"]


class ListenerEndpoints:
    """The listener's own calls; mixed into SpotifyClient, whose request helpers they use."""

    def me(self: SpotifyClient, user_id: str) -> UserProfile:
        """The user's profile (`GET /me`)."""
        return self._get(user_id, "GET /v1/me", "/me", {}, UserProfile.model_validate)

    def recently_played(
        self: SpotifyClient,
        user_id: str,
        after_ms: int | None = None,
        limit: int = RECENTLY_PLAYED_LIMIT,
    ) -> RecentlyPlayedPage:
        """Every reachable play after `after_ms` (Unix ms), newest first, each exactly once.

        With `after_ms` the pages are walked forward along `cursors.after`; without it, back
        along `cursors.before` (Spotify keeps only ~50 plays reachable, so this is short).
        The result is one merged page whose `cursors.after` is the newest play's ms (the next
        poll's cursor; `after_ms` itself when nothing new) and `cursors.before` the oldest's.
        """
        _check_limit(limit, RECENTLY_PLAYED_LIMIT)
        direction = "after" if after_ms is not None else "before"
        cursor = after_ms
        plays: dict[Any, PlayHistoryItem] = {}
        for _ in range(MAX_PAGES):
            params: dict[str, Any] = {"limit": limit}
            if cursor is not None:
                params[direction] = cursor
            page = self._get(user_id, "GET /v1/me/player/recently-played",
                             "/me/player/recently-played", params,
                             partial(parse_recent_page, limit=limit))
            # played_at identifies a play; a page served twice adds nothing and ends the walk.
            fresh = [item for item in page.items if item.played_at not in plays]
            plays.update((item.played_at, item) for item in fresh)
            next_cursor = cursor_ms(getattr(page.cursors, direction, None))
            if (len(page.items) < limit or not fresh or next_cursor is None
                    or next_cursor == cursor or (direction == "before" and page.next is None)):
                break
            cursor = next_cursor
        items = sorted(plays.values(), key=lambda item: item.played_at, reverse=True)
        newest = str(unix_ms(items[0].played_at)) if items else _opt_str(after_ms)
        oldest = str(unix_ms(items[-1].played_at)) if items else None
        return RecentlyPlayedPage(
            items=items, cursors=Cursors(after=newest, before=oldest), next=None, limit=limit
        )

    def latest_played(self: SpotifyClient, user_id: str) -> RecentlyPlayedPage:
        """The newest plays Spotify keeps, newest first, in one request (no cursor: only ~50
        are reachable, so there is no second page). Plays an offline device reported late are
        among them with their real, past `played_at`, which an `after` cursor would skip.
        `fetched_at` is the answer's `Date` header: Spotify's clock, the one `played_at` is on.
        """
        limit = RECENTLY_PLAYED_LIMIT
        page, response = self._get_answer(
            user_id, "GET /v1/me/player/recently-played", "/me/player/recently-played",
            {"limit": limit}, partial(parse_recent_page, limit=limit),
        )
        items = sorted(page.items, key=lambda item: item.played_at, reverse=True)
        return page.model_copy(update={"items": items, "fetched_at": http_date(response)})

    @overload
    def top_items(self: SpotifyClient, user_id: str, kind: Literal["tracks"],
                  time_range: TimeRange, limit: int = ...) -> list[Track]: ...

    @overload
    def top_items(self: SpotifyClient, user_id: str, kind: Literal["artists"],
                  time_range: TimeRange, limit: int = ...) -> list[Artist]: ...

    def top_items(
        self: SpotifyClient,
        user_id: str,
        kind: TopKind,
        time_range: TimeRange,
        limit: int = TOP_ITEMS_LIMIT,
    ) -> list[Track] | list[Artist]:
        """All of the user's top tracks or artists for a range, in rank order."""
        if kind not in ("tracks", "artists"):
            raise ValueError(f"top items kind must be 'tracks' or 'artists', not {kind!r}")
        if time_range not in ("short_term", "medium_term", "long_term"):
            raise ValueError(f"unknown time_range {time_range!r}")
        _check_limit(limit, TOP_ITEMS_LIMIT)
        model: type[Track] | type[Artist] = Track if kind == "tracks" else Artist
        return self._offset_items(user_id, "GET /v1/me/top/{type}", f"/me/top/{kind}",
                                  {"time_range": time_range}, limit, model)

    def followed_artists(
        self: SpotifyClient, user_id: str, limit: int = FOLLOWING_LIMIT
    ) -> list[Artist]:
        """Every artist the user follows (cursor paging on the last artist id)."""
        _check_limit(limit, FOLLOWING_LIMIT)
        artists: dict[str, Artist] = {}
        after: str | None = None
        used_cursors: set[str] = set()
        for _ in range(MAX_PAGES):
            params: dict[str, Any] = {"type": "artist", "limit": limit}
            if after is not None:
                params["after"] = after
            page = self._get(user_id, "GET /v1/me/following", "/me/following", params,
                             partial(parse_followed_page, limit=limit))
            for artist in page.items:
                artists.setdefault(artist.id or artist.name, artist)
            after = page.cursors.after if page.cursors else None
            if page.next is None or not after or not page.items:
                return list(artists.values())
            if after in used_cursors:
                raise MalformedResponseError(user_id, "GET /v1/me/following", 200,
                                             f"cursor {after!r} served twice; paging loops")
            used_cursors.add(after)
        raise MalformedResponseError(user_id, "GET /v1/me/following", 200,
                                     f"more than {MAX_PAGES} pages")


def _check_limit(limit: int, maximum: int) -> None:
    if not 1 <= limit <= maximum:
        raise ValueError(f"limit must be 1..{maximum}, got {limit}")


def _opt_str(value: int | None) -> str | None:
    return None if value is None else str(value)
