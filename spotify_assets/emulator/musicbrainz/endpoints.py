"""The ws/2 endpoints and their routes: ISRC lookup, a search per entity, a lookup per entity
with `inc` validation, and 404 for the entities only test mode knows; `routes` wraps each
handler in admission (User-Agent, rate limit) and test mode.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from spotify_assets.emulator.musicbrainz.fixtures import _fixture_response
from spotify_assets.emulator.musicbrainz.index import MbIndex
from spotify_assets.emulator.musicbrainz.ratelimit import _admit
from spotify_assets.emulator.musicbrainz.render import (
    _artist_xml,
    _group_xml,
    _recording_xml,
    _release_xml,
    el,
    lookup_document,
    search_document,
)
from spotify_assets.emulator.musicbrainz.search import search
from spotify_assets.emulator.musicbrainz.state import index_of, mb_state
from spotify_assets.emulator.musicbrainz.web import _error, _incs, _now, _xml

_ISRC = re.compile(r"^[A-Z]{2}[A-Z0-9]{3}[0-9]{7}$")
_MBID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


LOOKUP_ENTITIES = ("artist", "recording", "release", "release-group")
SEARCH_ENTITIES = ("artist", "recording", "release", "release-group", "label", "work")
# Extra lookup paths that only test mode can answer (the recorded files include them).
FIXTURE_ONLY_ENTITIES = ("label", "work", "discid")
_TAG_INCS = {"tags", "genres", "user-tags", "user-genres", "aliases", "annotation"}
VALID_INCS: dict[str, set[str]] = {
    "isrc": {"artists", "artist-credits", "releases", "isrcs"},
    "artist": {
        "recordings",
        "releases",
        "release-groups",
        "works",
        "media",
        "isrcs",
        "various-artists",
        "discids",
        "ratings",
        "user-ratings",
    }
    | _TAG_INCS,
    "recording": {
        "artists",
        "artist-credits",
        "releases",
        "isrcs",
        "media",
        "discids",
        "ratings",
        "user-ratings",
        "work-level-rels",
    }
    | _TAG_INCS,
    "release": {
        "artists",
        "artist-credits",
        "labels",
        "recordings",
        "release-groups",
        "media",
        "discids",
        "isrcs",
        "recording-level-rels",
        "work-level-rels",
    }
    | _TAG_INCS,
    "release-group": {
        "artists",
        "artist-credits",
        "releases",
        "media",
        "discids",
        "ratings",
        "user-ratings",
    }
    | _TAG_INCS,
}


Handler = Callable[[Any, Request], Response]


def _endpoint(state: Any, template: str, handler: Handler) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        refused = _admit(state, request)
        if refused is not None:
            return refused
        if getattr(state, "mb_test_mode", False):
            recorded = _fixture_response(mb_state(state), request)
            if recorded is not None:
                return recorded
        return handler(state, request)

    endpoint.__name__ = f"musicbrainz {template}"
    return endpoint


def _isrc(state: Any, request: Request) -> Response:
    code = request.path_params["isrc"]
    incs = _incs(request)
    if bad := incs - VALID_INCS["isrc"]:
        return _error(400, f"{sorted(bad)[0]} is not a valid inc parameter for the isrc resource.")
    if not _ISRC.match(code):
        return _error(400, "Invalid isrc.")
    index = index_of(state)
    recordings = [index.recordings[m] for m in index.by_isrc.get(code, [])]
    if not recordings:
        return _error(404, "Not Found")
    rec_incs = incs | ({"artist-credits"} if "artists" in incs else set())
    body = "".join(_recording_xml(index, r, rec_incs) for r in recordings)
    return _xml(
        lookup_document(el("isrc", el("recording-list", body, count=len(recordings)), id=code))
    )


def _lookup(entity: str) -> Handler:
    def handler(state: Any, request: Request) -> Response:
        mbid = request.path_params["mbid"]
        incs = _incs(request)
        if bad := incs - VALID_INCS[entity]:
            return _error(
                400, f"{sorted(bad)[0]} is not a valid inc parameter for the {entity} resource."
            )
        if not _MBID.match(mbid):
            return _error(400, "Invalid mbid.")
        index = index_of(state)
        if entity == "artist" and mbid in index.artists:
            return _xml(lookup_document(_artist_xml(index, index.artists[mbid], incs)))
        if entity == "recording" and mbid in index.recordings:
            return _xml(lookup_document(_recording_xml(index, index.recordings[mbid], incs)))
        if entity == "release" and mbid in index.releases:
            return _xml(lookup_document(_release_xml(index, index.releases[mbid], incs)))
        if entity == "release-group" and mbid in index.groups:
            return _xml(lookup_document(_group_xml(index, index.groups[mbid], incs)))
        return _error(404, "Not Found")

    return handler


def _search(entity: str) -> Handler:
    def handler(state: Any, request: Request) -> Response:
        query = request.query_params.get("query", "").strip()
        if not query:
            return _error(400, "You must provide a query (or a linked entity to browse by).")
        try:
            limit = min(100, max(1, int(request.query_params.get("limit", "25"))))
            offset = max(0, int(request.query_params.get("offset", "0")))
        except ValueError:
            return _error(400, "Invalid limit or offset.")
        index = index_of(state)
        hits = search(index, entity, query) if entity in LOOKUP_ENTITIES else []
        page = hits[offset : offset + limit]
        body = "".join(_search_hit(index, entity, mbid, score) for mbid, score in page)
        listing = el(f"{entity}-list", body, count=len(hits), offset=offset)
        return _xml(search_document(listing, _now(state)))

    return handler


def _search_hit(index: MbIndex, entity: str, mbid: str, score: int) -> str:
    if entity == "artist":
        return _artist_xml(index, index.artists[mbid], {"tags"}, score)
    if entity == "recording":
        return _recording_xml(index, index.recordings[mbid], set(), search=True, score=score)
    if entity == "release":
        return _release_xml(index, index.releases[mbid], set(), search=True, score=score)
    return _group_xml(index, index.groups[mbid], set(), search=True, score=score)


def _not_in_world(state: Any, request: Request) -> Response:
    return _error(404, "Not Found")


# --- routes --------------------------------------------------------------------------------------


def routes(state: Any) -> list[Route]:
    """The ws/2 routes of one emulator app; per-app MusicBrainz state lives on `state`."""
    mb_state(state)
    table: list[tuple[str, Handler]] = [("/ws/2/isrc/{isrc}", _isrc)]
    for entity in SEARCH_ENTITIES:
        table.append((f"/ws/2/{entity}/", _search(entity)))
    for entity in LOOKUP_ENTITIES:
        table.append((f"/ws/2/{entity}/{{mbid}}", _lookup(entity)))
    for entity in FIXTURE_ONLY_ENTITIES:
        table.append((f"/ws/2/{entity}/{{mbid}}", _not_in_world))
    result = []
    for template, handler in table:
        endpoint = _endpoint(state, f"GET {template}", handler)
        result.append(Route(template, endpoint, methods=["GET"]))
        if template.endswith("/"):
            # musicbrainzngs keeps the slash; other clients send /ws/2/recording?query=...
            result.append(Route(template.rstrip("/"), endpoint, methods=["GET"]))
    return result
