"""`GET /v1/search?type=track`: the catalogue search, as the 2026 OpenAPI spec shapes it.

`q` takes free words and the field filters Spotify documents for tracks (`track:`, `artist:`,
`album:`, `isrc:`, `year:` a year or a range), a value quoted when it has spaces
(`track:"Blue Hour" artist:"Nova"`). A track matches when every word of each filter appears in
that field (any one credited artist for `artist:`; case, accents and punctuation ignored, as
Spotify's search ignores them) and every free word appears in its title, artists or album.
Order: an exact title first, then popularity, then id. `limit` 1..10 in Development Mode since
2026-02-14 (default 5; 50 with extended quota), `offset` 0..1000; the answer is
`{"tracks": <paging of full track objects>}`. Other types are not served by the emulator (400).
"""

from __future__ import annotations

import functools
import re
import unicodedata

from starlette.requests import Request
from starlette.responses import Response

from spotify_assets.emulator.faults import json_response
from spotify_assets.emulator.spotify_api.errors import ApiError, _api
from spotify_assets.emulator.spotify_api.request import _caller, _int_param, _limit, _shapes
from spotify_assets.emulator.world import Track, World
from spotify_assets.emulator.world.util import strip_accents

SEARCH_TYPES = ("album", "artist", "playlist", "track", "show", "episode", "audiobook")
TRACK_FIELDS = ("track", "artist", "album", "isrc", "year")
MAX_OFFSET = 1000
_TERM = re.compile(r'(\w+):"([^"]*)"|(\w+):(\S+)|"([^"]*)"|(\S+)')
_NON_WORD = re.compile(r"[^\w]+")


def words(text: str) -> tuple[str, ...]:
    folded = strip_accents(unicodedata.normalize("NFKC", text)).casefold()
    return tuple(_NON_WORD.sub(" ", folded).split())


def parse_query(q: str) -> tuple[dict[str, list[str]], list[str]]:
    """Field filters (field -> values) and free words of a search query."""
    fields: dict[str, list[str]] = {}
    free: list[str] = []
    for match in _TERM.finditer(q):
        quoted = match.group(1) is not None
        field = match.group(1) if quoted else match.group(3)
        value = match.group(2) if quoted else match.group(4)
        if field and field.lower() in TRACK_FIELDS:
            fields.setdefault(field.lower(), []).append(value)
        else:
            free.append(match.group(0).strip('"'))
    return fields, free


Words = tuple[str, ...]


@functools.lru_cache(maxsize=4)
def _index(world: World) -> dict[str, tuple[Words, tuple[Words, ...], Words]]:
    """track id -> (title words, each artist's words, album words), built once per world."""
    return {
        t.id: (
            words(t.name),
            tuple(words(world.artists[a].name) for a in t.artist_ids),
            words(world.albums[t.album_id].name),
        )
        for t in world.tracks.values()
    }


def _contains(haystack: tuple[str, ...], value: str) -> bool:
    needle = words(value)
    return bool(needle) and all(w in haystack for w in needle)


def _year_matches(release_date: str, value: str) -> bool:
    year = release_date[:4]
    low, dash, high = value.partition("-")
    return low <= year <= high if dash else year == low


def matching_tracks(world: World, q: str) -> list[Track]:
    fields, free = parse_query(q)
    index = _index(world)
    found = []
    for track in world.tracks.values():
        title, artists, album = index[track.id]
        if not all(_contains(title, v) for v in fields.get("track", [])):
            continue
        if not all(any(_contains(a, v) for a in artists) for v in fields.get("artist", [])):
            continue
        if not all(_contains(album, v) for v in fields.get("album", [])):
            continue
        if not all(track.isrc.upper() == v.upper() for v in fields.get("isrc", [])):
            continue
        release = world.albums[track.album_id].release_date
        if not all(_year_matches(release, v) for v in fields.get("year", [])):
            continue
        every = set(title) | {w for a in artists for w in a} | set(album)
        if not all(w in every for v in free for w in words(v)):
            continue
        found.append(track)
    wanted = [words(v) for v in fields.get("track", [])]
    found.sort(key=lambda t: (index[t.id][0] not in wanted, -t.popularity, t.id))
    return found


@_api
async def search(request: Request) -> Response:
    _caller(request)
    shapes = _shapes(request)
    q = request.query_params.get("q", "")
    if not q.strip():
        raise ApiError(400, "No search query")
    raw_types = request.query_params.get("type")
    if raw_types is None:
        raise ApiError(400, "Missing parameter type")
    types = [t.strip() for t in raw_types.split(",") if t.strip()]
    if not types or any(t not in SEARCH_TYPES for t in types):
        raise ApiError(400, "Bad search type field")
    if types != ["track"]:
        raise ApiError(400, "The emulator searches tracks only (type=track)")
    # Development mode cut the maximum to 10 on 2026-02-14; extended-quota apps keep 50.
    limit = _limit(request, 5, 50 if shapes.extended else 10)
    offset = _int_param(request, "offset", 0, 0, MAX_OFFSET)
    found = matching_tracks(shapes.world, q)
    body = shapes.paging(
        [shapes.track(t) for t in found[offset : offset + limit]],
        f"{shapes.base}/v1/search",
        [("query", q), ("type", "track")],
        total=len(found),
        limit=limit,
        offset=offset,
    )
    return json_response({"tracks": body})
