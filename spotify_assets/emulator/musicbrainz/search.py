"""Lucene-ish search: `parse_query` reads the `field:(value)` terms musicbrainzngs sends, and
`search` finds candidates (identifier fields exactly, text fields by a shared word), scores them
by string similarity with the title-like field weighted up, and scales scores so the best hit is
100.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from rapidfuzz import fuzz

from spotify_assets.emulator.musicbrainz.index import MbIndex, fold

# The field an unqualified query term searches, per entity (as the MB search server does).
_DEFAULT_FIELD = {
    "artist": "artist",
    "recording": "recording",
    "release": "release",
    "release-group": "releasegroup",
    "label": "label",
    "work": "work",
}


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
        if value and not (
            fieldname == default_field and not match and value in ("AND", "OR", "NOT")
        ):
            terms.append((fieldname, value))
    return terms


def _read_value(query: str, pos: int) -> tuple[str, int]:
    if pos < len(query) and query[pos] == "[":
        # A range, `[2026-01-01 TO 2026-02-01]`: kept whole, brackets included.
        end = query.find("]", pos)
        end = len(query) if end < 0 else end + 1
        return query[pos:end], end
    if pos < len(query) and query[pos] in '("':
        closing = ")" if query[pos] == "(" else '"'
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
                    return query[pos + 1 : i], i + 1
            i += 1
        return query[pos + 1 :], len(query)
    i = pos
    while i < len(query) and not query[i].isspace():
        i += 2 if query[i] == "\\" else 1
    return query[pos:i], i


# Fields matched exactly against identifiers rather than scored as text.
_EXACT_FIELDS = {"isrc", "barcode", "arid", "reid", "rgid", "rid"}
# Release dates filter: `date:2026-03` (prefix) or `date:[2026-02-01 TO *]` (inclusive range).
_DATE_FIELDS = {"release": "date"}
# Text fields per entity, each mapped to the indexed field name.
_TEXT_FIELDS = {
    "artist": {
        "artist": "artist",
        "artistaccent": "artist",
        "sortname": "sortname",
        "alias": "artist",
    },
    "recording": {
        "recording": "recording",
        "recordingaccent": "recording",
        "artist": "artist",
        "artistname": "artist",
        "creditname": "artist",
    },
    "release": {
        "release": "release",
        "releaseaccent": "release",
        "artist": "artist",
        "artistname": "artist",
        "creditname": "artist",
    },
    "release-group": {
        "releasegroup": "releasegroup",
        "releasegroupaccent": "releasegroup",
        "artist": "artist",
        "artistname": "artist",
        "creditname": "artist",
    },
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
    return {
        "artist": index.artists,
        "recording": index.recordings,
        "release": index.releases,
        "release-group": index.groups,
    }.get(entity, {})


def _artist_ids(entity: Any, mbid: str) -> Sequence[str]:
    return getattr(entity, "artist_mbids", None) or (mbid,)


def _date_matches(date: str, value: str) -> bool:
    """`date` ("YYYY[-MM[-DD]]") within a `[lo TO hi]` range (`*` open), or with the prefix."""
    if not date:
        return False
    if value.startswith("[") and value.endswith("]"):
        low, _, high = value[1:-1].partition(" TO ")
        low, high = low.strip(), high.strip()
        above = low in ("", "*") or date >= low
        return above and (high in ("", "*") or date[: len(high)] <= high)
    return date.startswith(value)


def search(index: MbIndex, entity: str, query: str) -> list[tuple[str, int]]:
    """(mbid, score 0..100) hits, best first; the best scores 100."""
    terms = parse_query(query, _DEFAULT_FIELD.get(entity, entity))
    text_fields = _TEXT_FIELDS.get(entity, {})
    exact: dict[str, set[str]] = defaultdict(set)
    texts: dict[str, list[str]] = defaultdict(list)
    dates: list[str] = []
    for fieldname, value in terms:
        if fieldname == _DATE_FIELDS.get(entity):
            dates.append(value)
        elif fieldname in _EXACT_FIELDS:
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
    for value in dates:
        pool = _pool(index, entity)
        candidates = {m for m in candidates if _date_matches(pool[m].date or "", value)}
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
