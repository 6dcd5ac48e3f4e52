"""MusicBrainz ws/2 (XML) over the emulator world: ISRC lookup, searches, lookups, 1 req/s.

What it imitates, and from where (see shared/notes/musicbrainz.md):
- Documents in namespace mmd-2.0. Lookups are `<metadata xmlns=...>`; searches add
  `created="..."` and `xmlns:ns2` for the ext namespace with `ns2:score` on each hit, one
  compact line, as the current search server does.
- `GET /ws/2/isrc/{isrc}`: 400 "Invalid isrc." unless `^[A-Z]{2}[A-Z0-9]{3}[0-9]{7}$`, 404 when
  no recording carries it.
- Searches `GET /ws/2/{entity}/?query=...` (and without the slash): the `field:(value)` terms
  musicbrainzngs sends, Lucene-style OR of terms. A hit needs a shared word (or an exact
  identifier); its raw score is string similarity; scores are then scaled so the best hit is
  100, like Lucene's relative scores, so a client cannot trust the score alone.
- Lookups `GET /ws/2/{artist,recording,release,release-group}/{mbid}?inc=...` with tags/genres.
- Rate limit: a client (source IP + User-Agent) asking again less than `min_interval_s` after its
  previous *served* request gets 503; no User-Agent gets 403.
- Test mode (`state.mb_test_mode`): the real recorded XML files in `fixture_dir` (default: the
  repository's copy under spotify_assets_tests/lib/musicbrainz/realdata) are served at
  the paths they came from (`artist/<mbid>-aliases.xml` = `GET /ws/2/artist/<mbid>?inc=aliases`,
  `search-<entity>.xml` = any search of that entity); anything else falls through to the world.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from rapidfuzz import fuzz
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from unidecode import unidecode

MMD_NS = "http://musicbrainz.org/ns/mmd-2.0#"
EXT_NS = "http://musicbrainz.org/ns/ext#-2.0"
XML_TYPE = "application/xml; charset=utf-8"
USAGE = "For usage, please see: https://musicbrainz.org/development/mmd"
RATE_LIMIT_TEXT = (
    "Your requests are exceeding the allowable rate limit. Please see "
    "https://wiki.musicbrainz.org/XMLWebService for more information."
)
_ISRC = re.compile(r"^[A-Z]{2}[A-Z0-9]{3}[0-9]{7}$")
_MBID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# Namespace for the ids of genres, which the world knows only by name.
_GENRE_NS = uuid.UUID("6f3b9a52-5a8e-4c59-9d1b-7b1f0d3c2a10")

LOOKUP_ENTITIES = ("artist", "recording", "release", "release-group")
SEARCH_ENTITIES = ("artist", "recording", "release", "release-group", "label", "work")
# Extra lookup paths that only test mode can answer (the recorded files include them).
FIXTURE_ONLY_ENTITIES = ("label", "work", "discid")
_TAG_INCS = {"tags", "genres", "user-tags", "user-genres", "aliases", "annotation"}
VALID_INCS: dict[str, set[str]] = {
    "isrc": {"artists", "artist-credits", "releases", "isrcs"},
    "artist": {"recordings", "releases", "release-groups", "works", "media", "isrcs",
               "various-artists", "discids", "ratings", "user-ratings"} | _TAG_INCS,
    "recording": {"artists", "artist-credits", "releases", "isrcs", "media", "discids",
                  "ratings", "user-ratings", "work-level-rels"} | _TAG_INCS,
    "release": {"artists", "artist-credits", "labels", "recordings", "release-groups", "media",
                "discids", "isrcs", "recording-level-rels", "work-level-rels"} | _TAG_INCS,
    "release-group": {"artists", "artist-credits", "releases", "media", "discids", "ratings",
                      "user-ratings"} | _TAG_INCS,
}
# The field an unqualified query term searches, per entity (as the MB search server does).
_DEFAULT_FIELD = {"artist": "artist", "recording": "recording", "release": "release",
                  "release-group": "releasegroup", "label": "label", "work": "work"}


# --- per-app state -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Arrival:
    """One request as the server saw it (for tests of the client's rate limiting)."""

    at: float
    client: tuple[str, str]
    path: str
    status: int


@dataclass
class MbServerState:
    """MusicBrainz state of one emulator app; tests may change the knobs directly."""

    min_interval_s: float = 1.0
    fixture_dir: Path | None = None
    arrivals: deque[Arrival] = field(default_factory=lambda: deque(maxlen=100_000))
    last_served: dict[tuple[str, str], float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    index: MbIndex | None = None

    def reset(self) -> None:
        """Forget clients and arrivals, back to 1 req/s (the index of the world stays)."""
        with self.lock:
            self.min_interval_s = 1.0
            self.arrivals.clear()
            self.last_served.clear()

    def served_times(self) -> list[float]:
        """Arrival times of the requests that were served (not refused), oldest first."""
        with self.lock:
            return sorted(a.at for a in self.arrivals if a.status not in (403, 503))


def mb_state(state: Any) -> MbServerState:
    """The MusicBrainz part of an EmulatorState, created on first use."""
    existing = getattr(state, "musicbrainz", None)
    if isinstance(existing, MbServerState):
        return existing
    created = MbServerState()
    state.musicbrainz = created
    return created


# --- the world as MusicBrainz sees it ------------------------------------------------------------


def fold(text: str) -> str:
    """Accent- and case-insensitive words, like the search server's analysed fields."""
    return " ".join(re.sub(r"[\W_]+", " ", unidecode(text or "").lower()).split())


@dataclass
class ReleaseGroup:
    mbid: str
    title: str
    type: str
    artist_mbids: tuple[str, ...]
    first_release_date: str
    release_mbids: list[str]


@dataclass
class MbIndex:
    """Every MusicBrainz entity of a world (true ones and decoys), with search postings."""

    artists: dict[str, Any] = field(default_factory=dict)
    recordings: dict[str, Any] = field(default_factory=dict)
    releases: dict[str, Any] = field(default_factory=dict)
    groups: dict[str, ReleaseGroup] = field(default_factory=dict)
    by_isrc: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    by_barcode: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    release_tracks: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    # Total tracks per release. MusicBrainz tracklists are complete, but the world lists only
    # the recordings that exist in MusicBrainz, so the count comes from the Spotify album.
    track_counts: dict[str, int] = field(default_factory=dict)
    folded: dict[tuple[str, str], str] = field(default_factory=dict)
    postings: dict[tuple[str, str], set[str]] = field(default_factory=lambda: defaultdict(set))

    @classmethod
    def build(cls, world: Any) -> MbIndex:
        index = cls()
        decoys = world.mb_decoys.values() if isinstance(world.mb_decoys, dict) else world.mb_decoys
        entities = [a.mb for a in world.artists.values() if a.mb is not None]
        entities += [t.mb for t in world.tracks.values() if t.mb is not None]
        entities += [a.mb for a in world.albums.values() if a.mb is not None]
        for entity in [*entities, *decoys]:
            index.add(entity)
        for album in world.albums.values():
            if album.mb is not None:
                index.track_counts[album.mb.mbid] = len(album.track_ids)
        index.finish()
        return index

    def track_count(self, release: Any) -> int:
        """Tracks on a release: the Spotify album's count, else a stable plausible number."""
        if release.mbid in self.track_counts:
            return self.track_counts[release.mbid]
        listed = len(self.release_tracks.get(release.mbid, ()))
        if listed or (release.release_group_type or "").lower() in ("single", "ep"):
            return max(listed, 1)
        return 8 + int(release.mbid[:2], 16) % 7

    def add(self, entity: Any) -> None:
        if hasattr(entity, "isrcs"):
            if entity.mbid in self.recordings:
                return
            self.recordings[entity.mbid] = entity
            for code in entity.isrcs:
                self.by_isrc[code].append(entity.mbid)
        elif hasattr(entity, "release_group_mbid"):
            if entity.mbid not in self.releases:
                self.releases[entity.mbid] = entity
                self.release_tracks[entity.mbid] = list(getattr(entity, "recording_mbids", ()))
        elif hasattr(entity, "sort_name"):
            self.artists.setdefault(entity.mbid, entity)
        else:
            raise TypeError(f"not a MusicBrainz entity: {type(entity).__name__}")

    def finish(self) -> None:
        """Derive release-groups and barcodes, then index every searchable text."""
        for release in sorted(self.releases.values(), key=lambda r: (r.date or "9999", r.mbid)):
            if release.barcode:
                self.by_barcode[release.barcode].append(release.mbid)
            group = self.groups.get(release.release_group_mbid)
            if group is None:
                title = getattr(release, "release_group_title", "") or release.title
                self.groups[release.release_group_mbid] = ReleaseGroup(
                    release.release_group_mbid, title, release.release_group_type,
                    tuple(release.artist_mbids), release.date or "", [release.mbid])
            else:
                group.release_mbids.append(release.mbid)
        for rec_mbid, rec in self.recordings.items():
            # Releases that list a recording without the release being in its tracklist.
            for release_mbid in rec.release_mbids:
                tracks = self.release_tracks.get(release_mbid)
                if tracks is not None and rec_mbid not in tracks:
                    tracks.append(rec_mbid)
        for mbid, artist in self.artists.items():
            self._index_text("artist", mbid, "artist", artist.name)
            self._index_text("artist", mbid, "sortname", artist.sort_name)
        for mbid, rec in self.recordings.items():
            self._index_text("recording", mbid, "recording", rec.title)
            self._index_text("recording", mbid, "artist", self.credit_phrase(rec.artist_mbids))
        for mbid, rel in self.releases.items():
            self._index_text("release", mbid, "release", rel.title)
            self._index_text("release", mbid, "artist", self.credit_phrase(rel.artist_mbids))
        for mbid, group in self.groups.items():
            self._index_text("release-group", mbid, "releasegroup", group.title)
            self._index_text("release-group", mbid, "artist",
                             self.credit_phrase(group.artist_mbids))

    def _index_text(self, entity: str, mbid: str, fieldname: str, text: str) -> None:
        folded = fold(text)
        self.folded[(mbid, fieldname)] = folded
        for word in folded.split():
            self.postings[(entity, word)].add(mbid)

    def credit_phrase(self, artist_mbids: Sequence[str]) -> str:
        names = [self.artists[m].name for m in artist_mbids if m in self.artists]
        return " & ".join(names)


def index_of(state: Any) -> MbIndex:
    mbs = mb_state(state)
    with mbs.lock:
        if mbs.index is None:
            mbs.index = MbIndex.build(state.world)
        return mbs.index


# --- XML -----------------------------------------------------------------------------------------


def el(tag: str, body: str | None = None, **attrs: Any) -> str:
    """One element; `body` is already XML (use `text()` for character data)."""
    attr_xml = "".join(
        f" {name.replace('__', ':').replace('_', '-')}={quoteattr(str(v))}"
        for name, v in attrs.items() if v is not None
    )
    return f"<{tag}{attr_xml}/>" if body is None else f"<{tag}{attr_xml}>{body}</{tag}>"


def text(tag: str, value: object) -> str:
    return el(tag, escape(str(value)))


def lookup_document(body: str) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?><metadata xmlns="{MMD_NS}">{body}'
            "</metadata>").encode()


def search_document(body: str, created: datetime) -> bytes:
    stamp = created.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{created.microsecond // 1000:03d}Z")
    return (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><metadata created="{stamp}" '
            f'xmlns="{MMD_NS}" xmlns:ns2="{EXT_NS}">{body}</metadata>').encode()


def error_document(*messages: str) -> bytes:
    texts = "".join(text("text", m) for m in (*messages, USAGE))
    return f'<?xml version="1.0" encoding="UTF-8"?>{el("error", texts)}'.encode()


def _tag_lists(entity: Any, incs: set[str]) -> str:
    out = ""
    tags = sorted(getattr(entity, "tags", ()) or ())
    genres = sorted(getattr(entity, "genres", ()) or ())
    if "tags" in incs and tags:
        out += el("tag-list", "".join(el("tag", text("name", n), count=c) for n, c in tags))
    if "genres" in incs and genres:
        out += el("genre-list", "".join(
            el("genre", text("name", n), count=c, id=str(uuid.uuid5(_GENRE_NS, n)))
            for n, c in genres))
    return out


def _artist_xml(index: MbIndex, artist: Any, incs: set[str], score: int | None = None) -> str:
    body = text("name", artist.name) + text("sort-name", artist.sort_name)
    if country := getattr(artist, "country", None):
        body += text("country", country)
    if disambiguation := getattr(artist, "disambiguation", None):
        body += text("disambiguation", disambiguation)
    return el("artist", body + _tag_lists(artist, incs), id=artist.mbid,
              type=getattr(artist, "artist_type", None), ns2__score=score)


def _credit_xml(index: MbIndex, artist_mbids: Sequence[str]) -> str:
    known = [index.artists[m] for m in artist_mbids if m in index.artists]
    credits = []
    for position, artist in enumerate(known):
        remaining = len(known) - position - 1
        join = " & " if remaining == 1 else (", " if remaining > 1 else None)
        inner = text("name", artist.name) + text("sort-name", artist.sort_name)
        if disambiguation := getattr(artist, "disambiguation", None):
            inner += text("disambiguation", disambiguation)
        inner = el("artist", inner, id=artist.mbid, type=getattr(artist, "artist_type", None))
        credits.append(el("name-credit", inner, joinphrase=join))
    return el("artist-credit", "".join(credits)) if credits else ""


_PRIMARY_TYPES = {"album": "Album", "single": "Single", "ep": "EP", "compilation": "Album",
                  "broadcast": "Broadcast", "other": "Other"}


def _group_types(kind: str) -> tuple[str, str, str | None]:
    """(legacy type attribute, primary type, secondary type) of a world release-group type."""
    key = (kind or "album").lower()
    primary = _PRIMARY_TYPES.get(key, "Other")
    secondary = "Compilation" if key == "compilation" else None
    return (secondary or primary), primary, secondary


def _group_xml(index: MbIndex, group: ReleaseGroup, incs: set[str], *, search: bool = False,
               score: int | None = None, brief: bool = False) -> str:
    legacy, primary, secondary = _group_types(group.type)
    body = text("title", group.title)
    if group.first_release_date:
        body += text("first-release-date", group.first_release_date)
    body += text("primary-type", primary)
    if secondary:
        body += el("secondary-type-list", text("secondary-type", secondary))
    if not brief:
        if search or incs & {"artists", "artist-credits"}:
            body += _credit_xml(index, group.artist_mbids)
        if "releases" in incs:
            rels = [index.releases[m] for m in group.release_mbids]
            body += el("release-list", "".join(_release_xml(index, r, set()) for r in rels),
                       count=len(rels))
        body += _tag_lists(_first(index, group), incs) if incs & {"tags", "genres"} else ""
    return el("release-group", body, id=group.mbid, type=legacy, ns2__score=score)


def _first(index: MbIndex, group: ReleaseGroup) -> Any:
    return index.releases[group.release_mbids[0]]


def _release_xml(index: MbIndex, release: Any, incs: set[str], *, search: bool = False,
                 score: int | None = None) -> str:
    body = text("title", release.title) + text("status", getattr(release, "status", "Official"))
    if search or incs & {"artists", "artist-credits"}:
        body += _credit_xml(index, release.artist_mbids)
    group = index.groups.get(release.release_group_mbid)
    if group is not None and (search or "release-groups" in incs):
        body += _group_xml(index, group, set(), brief=True)
    if release.date:
        body += text("date", release.date)
    if country := getattr(release, "country", None):
        body += text("country", country)
    if release.barcode is not None:
        body += el("barcode", escape(release.barcode)) if release.barcode else el("barcode")
    if "recordings" in incs:
        body += _media_xml(index, release, incs)
    elif search or "media" in incs:
        count = index.track_count(release)
        medium = text("format", "Digital Media") + el("track-list", count=count)
        body += el("medium-list", text("track-count", count) + el("medium", medium), count=1)
    body += _tag_lists(release, incs)
    return el("release", body, id=release.mbid, ns2__score=score)


def _media_xml(index: MbIndex, release: Any, incs: set[str]) -> str:
    tracks = []
    for number, rec_mbid in enumerate(index.release_tracks.get(release.mbid, []), start=1):
        rec = index.recordings[rec_mbid]
        track_id = str(uuid.uuid5(uuid.UUID(release.mbid), rec_mbid))
        body = text("position", number) + text("number", number)
        if rec.length_ms:
            body += text("length", rec.length_ms)
        body += _recording_xml(index, rec, incs & {"artist-credits", "isrcs"})
        tracks.append(el("track", body, id=track_id))
    medium = text("position", 1) + text("format", "Digital Media") + el(
        "track-list", "".join(tracks), count=len(tracks), offset=0)
    return el("medium-list", el("medium", medium), count=1)


def _recording_xml(index: MbIndex, rec: Any, incs: set[str], *, search: bool = False,
                   score: int | None = None) -> str:
    body = text("title", rec.title)
    if rec.length_ms:
        body += text("length", rec.length_ms)
    if disambiguation := getattr(rec, "disambiguation", None):
        body += text("disambiguation", disambiguation)
    if search or incs & {"artists", "artist-credits"}:
        body += _credit_xml(index, rec.artist_mbids)
    releases = [index.releases[m] for m in rec.release_mbids if m in index.releases]
    if releases and min(r.date or "9999" for r in releases) != "9999":
        body += text("first-release-date", min(r.date for r in releases if r.date))
    if releases and (search or "releases" in incs):
        inner = incs & {"release-groups"} | ({"release-groups"} if search else set())
        body += el("release-list", "".join(_release_xml(index, r, inner) for r in releases),
                   count=len(releases))
    if rec.isrcs and (search or "isrcs" in incs):
        body += el("isrc-list", "".join(el("isrc", id=c) for c in rec.isrcs), count=len(rec.isrcs))
    body += _tag_lists(rec, incs)
    return el("recording", body, id=rec.mbid, ns2__score=score)


# --- query parsing and scoring -------------------------------------------------------------------


_FIELD = re.compile(r"([A-Za-z_][\w-]*):")
_UNESCAPE = re.compile(r"\\(.)")


def parse_query(query: str, default_field: str) -> list[tuple[str, str]]:
    """(field, value) terms of a Lucene-ish query as musicbrainzngs writes them.

    Handles `field:(value with \\(escapes\\))`, `field:"phrase"`, `field:word` and bare words;
    AND / OR / NOT are dropped (terms are OR-ed and scored).
    """
    terms: list[tuple[str, str]] = []
    pos = 0
    while pos < len(query):
        if query[pos].isspace():
            pos += 1
            continue
        fieldname = default_field
        match = _FIELD.match(query, pos)
        if match:
            fieldname, pos = match.group(1).lower(), match.end()
        value, pos = _read_value(query, pos)
        value = _UNESCAPE.sub(r"\1", value).strip()
        if value and not (fieldname == default_field and not match and value in ("AND", "OR",
                                                                                  "NOT")):
            terms.append((fieldname, value))
    return terms


def _read_value(query: str, pos: int) -> tuple[str, int]:
    if pos < len(query) and query[pos] in "(\"":
        closing = ")" if query[pos] == "(" else "\""
        depth, i = 1, pos + 1
        while i < len(query):
            char = query[i]
            if char == "\\":
                i += 2
                continue
            if closing == ")" and char == "(":
                depth += 1
            elif char == closing:
                depth -= 1
                if depth == 0:
                    return query[pos + 1:i], i + 1
            i += 1
        return query[pos + 1:], len(query)
    i = pos
    while i < len(query) and not query[i].isspace():
        i += 2 if query[i] == "\\" else 1
    return query[pos:i], i


# Fields matched exactly against identifiers rather than scored as text.
_EXACT_FIELDS = {"isrc", "barcode", "arid", "reid", "rgid", "rid"}
# Text fields per entity, each mapped to the indexed field name.
_TEXT_FIELDS = {
    "artist": {"artist": "artist", "artistaccent": "artist", "sortname": "sortname",
               "alias": "artist"},
    "recording": {"recording": "recording", "recordingaccent": "recording", "artist": "artist",
                  "artistname": "artist", "creditname": "artist"},
    "release": {"release": "release", "releaseaccent": "release", "artist": "artist",
                "artistname": "artist", "creditname": "artist"},
    "release-group": {"releasegroup": "releasegroup", "releasegroupaccent": "releasegroup",
                      "artist": "artist", "artistname": "artist", "creditname": "artist"},
}
# The title-like field weighs more than the artist, as in the search server's boosts.
_PRIMARY_WEIGHT = 2.0


def _text_score(query: str, candidate: str) -> float:
    """0..100: token overlap (extra words allowed) blended with whole-string similarity."""
    return 0.5 * fuzz.token_set_ratio(query, candidate) + 0.5 * fuzz.ratio(query, candidate)


def _exact_hits(index: MbIndex, entity: str, fieldname: str, values: set[str]) -> set[str]:
    if fieldname == "isrc" and entity == "recording":
        return {m for v in values for m in index.by_isrc.get(v.upper(), [])}
    if fieldname == "barcode" and entity == "release":
        return {m for v in values for m in index.by_barcode.get(v, [])}
    if fieldname == "arid":
        pool = _pool(index, entity)
        return {m for m, e in pool.items() if set(_artist_ids(e, m)) & values}
    own = {"artist": "arid", "recording": "rid", "release": "reid", "release-group": "rgid"}
    if own.get(entity) == fieldname:
        return values & set(_pool(index, entity))
    if fieldname == "rgid" and entity == "release":
        return {m for m, r in index.releases.items() if r.release_group_mbid in values}
    if fieldname == "reid" and entity == "recording":
        return {m for m, r in index.recordings.items() if set(r.release_mbids) & values}
    return set()


def _pool(index: MbIndex, entity: str) -> dict[str, Any]:
    return {"artist": index.artists, "recording": index.recordings, "release": index.releases,
            "release-group": index.groups}.get(entity, {})


def _artist_ids(entity: Any, mbid: str) -> Sequence[str]:
    return getattr(entity, "artist_mbids", None) or (mbid,)


def search(index: MbIndex, entity: str, query: str) -> list[tuple[str, int]]:
    """(mbid, score 0..100) hits, best first; the best scores 100."""
    terms = parse_query(query, _DEFAULT_FIELD.get(entity, entity))
    text_fields = _TEXT_FIELDS.get(entity, {})
    exact: dict[str, set[str]] = defaultdict(set)
    texts: dict[str, list[str]] = defaultdict(list)
    for fieldname, value in terms:
        if fieldname in _EXACT_FIELDS:
            exact[fieldname].update(value.split())
        elif fieldname in text_fields:
            texts[text_fields[fieldname]].append(fold(value))
    candidates: set[str] | None = None
    for fieldname, values in exact.items():
        hits = _exact_hits(index, entity, fieldname, values)
        candidates = hits if candidates is None else candidates & hits
    if candidates is None:
        words = {w for values in texts.values() for v in values for w in v.split()}
        candidates = set().union(*(index.postings.get((entity, w), set()) for w in words))
    primary = _DEFAULT_FIELD.get(entity)
    raw: list[tuple[float, str]] = []
    for mbid in candidates:
        total = weight_sum = 0.0
        for fieldname, values in texts.items():
            weight = _PRIMARY_WEIGHT if fieldname == primary else 1.0
            candidate_text = index.folded.get((mbid, fieldname), "")
            total += weight * max(_text_score(v, candidate_text) for v in values)
            weight_sum += weight
        raw.append((total / weight_sum if weight_sum else 100.0, mbid))
    raw.sort(key=lambda item: (-item[0], item[1]))
    best = raw[0][0] if raw else 0.0
    return [(mbid, max(1, round(100 * value / best)) if best else 100) for value, mbid in raw]


# --- HTTP ----------------------------------------------------------------------------------------


def _xml(body: bytes, status: int = 200) -> Response:
    return Response(body, status_code=status, media_type=XML_TYPE)


def _error(status: int, *messages: str) -> Response:
    return _xml(error_document(*messages), status)


def _now(state: Any) -> datetime:
    clock = getattr(state, "clock", None)
    now = getattr(clock, "now", None)
    if callable(now):
        value = now()
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.now(UTC)


def _incs(request: Request) -> set[str]:
    raw = request.query_params.get("inc", "")
    return {part for part in re.split(r"[ +]", raw) if part}


def _admit(state: Any, request: Request) -> Response | None:
    """Apply the User-Agent and rate rules; a Response means refused.

    Requests are counted per endpoint template by the app's middleware, like every other route,
    and switchable faults (e.g. 503 for `/ws/2/*`) are applied there too.
    """
    mbs = mb_state(state)
    now = time.monotonic()
    agent = request.headers.get("user-agent", "").strip()
    client = (request.client.host if request.client else "?", agent)
    with mbs.lock:
        status = 200
        if not agent:
            status = 403
        else:
            last = mbs.last_served.get(client)
            if last is not None and now - last < mbs.min_interval_s:
                status = 503
            else:
                mbs.last_served[client] = now
        mbs.arrivals.append(Arrival(now, client, request.url.path, status))
    if status == 403:
        return _error(403, "User-Agent header required: use 'app/version ( contact )'.")
    if status == 503:
        return _error(503, RATE_LIMIT_TEXT)
    return None


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
    return _xml(lookup_document(el("isrc", el("recording-list", body, count=len(recordings)),
                                   id=code)))


def _lookup(entity: str) -> Handler:
    def handler(state: Any, request: Request) -> Response:
        mbid = request.path_params["mbid"]
        incs = _incs(request)
        if bad := incs - VALID_INCS[entity]:
            return _error(
                400, f"{sorted(bad)[0]} is not a valid inc parameter for the {entity} resource.")
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
        page = hits[offset:offset + limit]
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


# --- test mode: the recorded real responses ------------------------------------------------------


@dataclass(frozen=True)
class Fixture:
    """A recorded response and the request it answers."""

    path: Path
    entity: str
    entity_id: str | None  # None: any search of `entity`
    incs: frozenset[str]


def fixture_catalogue(directory: Path) -> list[Fixture]:
    """Every recorded XML under `directory`, keyed by the request its name describes."""
    found = []
    for path in sorted(directory.rglob("*.xml")):
        entity = path.parent.name
        stem = path.stem
        if stem.startswith("search-"):
            found.append(Fixture(path, stem.removeprefix("search-"), None, frozenset()))
        elif entity == "isrc":
            code, _, inc = stem.partition("-inc-")
            found.append(Fixture(path, "isrc", code, frozenset(inc.split("+")) - {""}))
        elif entity == "discid":
            found.append(Fixture(path, "discid", stem, frozenset()))
        else:
            mbid, inc = stem[:36], stem[37:]
            found.append(Fixture(path, entity, mbid, frozenset(inc.split("+")) - {""}))
    return found


# The repository's copy of shared/realdata/musicbrainz (test mode exists for the tests).
DEFAULT_FIXTURE_DIR = (
    Path(__file__).resolve().parents[2] / "spotify_assets_tests" / "lib" / "musicbrainz"
    / "realdata"
)


def _fixture_response(mbs: MbServerState, request: Request) -> Response | None:
    directory = mbs.fixture_dir or DEFAULT_FIXTURE_DIR
    if not directory.is_dir():
        return _error(500, f"Emulator test mode: no recorded MusicBrainz files in {directory}; "
                           "set state.musicbrainz.fixture_dir.")
    parts = request.url.path.removeprefix("/ws/2/").split("/")
    entity = parts[0]
    entity_id = parts[1] if len(parts) > 1 and parts[1] else None
    incs = frozenset(_incs(request))
    for fixture in fixture_catalogue(directory):
        if fixture.entity != entity or fixture.entity_id != entity_id:
            continue
        if entity_id is None or fixture.incs == incs:
            return _xml(fixture.path.read_bytes())
    return None


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


__all__ = ["MbIndex", "MbServerState", "fixture_catalogue", "mb_state", "parse_query", "routes",
           "search"]
