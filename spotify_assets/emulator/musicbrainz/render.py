"""XML rendering in the mmd-2.0 namespace: `el` and `text` build elements, `lookup_document`,
`search_document` (with `created` and `ns2:score`) and `error_document` wrap them, and the
`_*_xml` helpers render artists, artist credits, release groups, releases, media and
recordings the way lookups and search hits show them.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from spotify_assets.emulator.musicbrainz.index import MbIndex, ReleaseGroup

MMD_NS = "http://musicbrainz.org/ns/mmd-2.0#"
EXT_NS = "http://musicbrainz.org/ns/ext#-2.0"
USAGE = "For usage, please see: https://musicbrainz.org/development/mmd"


# Namespace for the ids of genres, which the world knows only by name.
_GENRE_NS = uuid.UUID("6f3b9a52-5a8e-4c59-9d1b-7b1f0d3c2a10")


# --- XML -----------------------------------------------------------------------------------------


def el(tag: str, body: str | None = None, **attrs: Any) -> str:
    """One element; `body` is already XML (use `text()` for character data)."""
    attr_xml = "".join(
        f" {name.replace('__', ':').replace('_', '-')}={quoteattr(str(v))}"
        for name, v in attrs.items()
        if v is not None
    )
    return f"<{tag}{attr_xml}/>" if body is None else f"<{tag}{attr_xml}>{body}</{tag}>"


def text(tag: str, value: object) -> str:
    return el(tag, escape(str(value)))


def lookup_document(body: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><metadata xmlns="{MMD_NS}">{body}</metadata>'
    ).encode()


def search_document(body: str, created: datetime) -> bytes:
    stamp = created.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{created.microsecond // 1000:03d}Z"
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><metadata created="{stamp}" '
        f'xmlns="{MMD_NS}" xmlns:ns2="{EXT_NS}">{body}</metadata>'
    ).encode()


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
        out += el(
            "genre-list",
            "".join(
                el("genre", text("name", n), count=c, id=str(uuid.uuid5(_GENRE_NS, n)))
                for n, c in genres
            ),
        )
    return out


def _artist_xml(index: MbIndex, artist: Any, incs: set[str], score: int | None = None) -> str:
    body = text("name", artist.name) + text("sort-name", artist.sort_name)
    if country := getattr(artist, "country", None):
        body += text("country", country)
    if disambiguation := getattr(artist, "disambiguation", None):
        body += text("disambiguation", disambiguation)
    return el(
        "artist",
        body + _tag_lists(artist, incs),
        id=artist.mbid,
        type=getattr(artist, "artist_type", None),
        ns2__score=score,
    )


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


_PRIMARY_TYPES = {
    "album": "Album",
    "single": "Single",
    "ep": "EP",
    "compilation": "Album",
    "broadcast": "Broadcast",
    "other": "Other",
}


def _group_types(kind: str) -> tuple[str, str, str | None]:
    """(legacy type attribute, primary type, secondary type) of a world release-group type."""
    key = (kind or "album").lower()
    primary = _PRIMARY_TYPES.get(key, "Other")
    secondary = "Compilation" if key == "compilation" else None
    return (secondary or primary), primary, secondary


def _group_xml(
    index: MbIndex,
    group: ReleaseGroup,
    incs: set[str],
    *,
    search: bool = False,
    score: int | None = None,
    brief: bool = False,
) -> str:
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
            body += el(
                "release-list",
                "".join(_release_xml(index, r, set()) for r in rels),
                count=len(rels),
            )
        body += _tag_lists(_first(index, group), incs) if incs & {"tags", "genres"} else ""
    return el("release-group", body, id=group.mbid, type=legacy, ns2__score=score)


def _first(index: MbIndex, group: ReleaseGroup) -> Any:
    return index.releases[group.release_mbids[0]]


def _release_xml(
    index: MbIndex, release: Any, incs: set[str], *, search: bool = False, score: int | None = None
) -> str:
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
    medium = (
        text("position", 1)
        + text("format", "Digital Media")
        + el("track-list", "".join(tracks), count=len(tracks), offset=0)
    )
    return el("medium-list", el("medium", medium), count=1)


def _recording_xml(
    index: MbIndex, rec: Any, incs: set[str], *, search: bool = False, score: int | None = None
) -> str:
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
        body += el(
            "release-list",
            "".join(_release_xml(index, r, inner) for r in releases),
            count=len(releases),
        )
    if rec.isrcs and (search or "isrcs" in incs):
        body += el("isrc-list", "".join(el("isrc", id=c) for c in rec.isrcs), count=len(rec.isrcs))
    body += _tag_lists(rec, incs)
    return el("recording", body, id=rec.mbid, ns2__score=score)
