"""Catalogue search of `SpotifyClient` (a mixin, so the client file stays small).

`GET /search?type=track` is the one way left to find a track id from names alone (account-data
exports carry only `trackName`/`artistName`; the batch lookups are gone in development mode).
Since 2026-02-14 its `limit` is at most 10 for development-mode apps (default 5), so one request
returns the first 10 matches; `offset` could page on, but callers that need certainty treat two
equal titles in those 10 as ambiguous rather than paging (see `lib/spotify/tracks.py`).
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from spotify_assets.lib.spotify.models import Paging, Track
from spotify_assets.lib.spotify.paging import PageProblem

if TYPE_CHECKING:
    from spotify_assets.lib.spotify.client import SpotifyClient

SEARCH_LIMIT = 10
SEARCH_ENDPOINT = "GET /v1/search"


def field_filter(field: str, value: str) -> str:
    """`field:"value"`; Spotify's query syntax has no escape for a double quote, so it goes."""
    cleaned = " ".join(value.replace('"', " ").split())
    return f'{field}:"{cleaned}"'


def parse_search_page(body: Any, *, kind: str, limit: int) -> Paging[Track]:
    """The `tracks` page of a search answer. Search totals are estimates on Spotify (a page can
    hold fewer items than `total` promises), so unlike other pages it is not checked for
    truncation; null entries, which search answers have carried, are dropped."""
    page = body.get(kind) if isinstance(body, dict) else None
    if not isinstance(page, dict) or not isinstance(page.get("items"), list):
        raise PageProblem(f"search answer has no '{kind}.items' list")
    page = {**page, "items": [item for item in page["items"] if item is not None]}
    parsed = Paging[Track].model_validate(page)
    if len(parsed.items) > limit:
        raise PageProblem(f"{len(parsed.items)} items in a page of limit {limit}")
    return parsed


class SearchEndpoints:
    """Search calls; mixed into SpotifyClient, whose request helpers they use."""

    def search_tracks(
        self: SpotifyClient,
        user_id: str,
        title: str,
        artist: str | None = None,
        limit: int = SEARCH_LIMIT,
    ) -> Paging[Track]:
        """The first `limit` tracks Spotify finds for `track:"title" artist:"artist"`."""
        if not 1 <= limit <= SEARCH_LIMIT:
            raise ValueError(f"limit must be 1..{SEARCH_LIMIT}, got {limit}")
        if not title.strip():
            raise ValueError("a track search needs a title")
        terms = [field_filter("track", title)]
        if artist and artist.strip():
            terms.append(field_filter("artist", artist))
        params = {"q": " ".join(terms), "type": "track", "limit": limit}
        return self._get(user_id, SEARCH_ENDPOINT, "/search", params,
                         partial(parse_search_page, kind="tracks", limit=limit))
