"""The matching cascade: Spotify track/album/artist -> MBID, cheapest reliable evidence first.

- Album: one barcode search covering every leading-zero variant of the UPC, else a name + artist
  release search (+ track count and year). The release match carries its release-group.
- Tracks of a matched album: one release lookup with its recordings, ISRCs and credits; each
  Spotify track is matched inside that tracklist (0 requests per track). Method "isrc" when the
  ISRC is on the recording, else "barcode"/"search" as the album was found.
- Other tracks: ISRC lookup (1 request; its recordings carry artist credits), else a name +
  artist recording search (1 more request).
- Artist: the credit of a recording already matched for one of the artist's tracks (0 requests),
  else an artist search where credits seen on matched recordings break ties between namesakes.

Albums first then tracks keeps the average near one request per entity: a 12-track album costs
2 requests instead of 13.

Each function returns `Match | None` (or the per-artist credit matches for a track); "not in
MusicBrainz" and "not sure" are both None, because a wrong MBID is worse than none.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from spotify_assets.lib.musicbrainz.matching import (
    Match,
    artist_from_credit,
    choose_artist,
    choose_recording,
    choose_release,
)
from spotify_assets.lib.musicbrainz.normalize import clean_title_for_search


class MusicBrainzSource(Protocol):
    """What the cascade needs from `MusicBrainzClient`."""

    def recordings_by_isrc(self, isrc: str) -> list[dict[str, Any]]: ...

    def search_recordings(self, title: str, artist: str, limit: int = 10) -> list[dict]: ...

    def search_releases_by_barcode(self, barcode: str) -> list[dict[str, Any]]: ...

    def search_releases(self, title: str, artist: str, limit: int = 10) -> list[dict]: ...

    def search_artists(self, name: str, limit: int = 10) -> list[dict[str, Any]]: ...

    def release(self, mbid: str, includes: Sequence[str] = ...) -> dict[str, Any] | None: ...


@dataclass(frozen=True)
class SpotifyTrack:
    """What the cascade needs to know about a Spotify track (`artists`: names, primary first)."""

    title: str
    artists: Sequence[str]
    duration_ms: int | None
    isrc: str | None


@dataclass(frozen=True)
class TrackResult:
    """The recording match and, from its credit, a match for each Spotify artist name found."""

    recording: Match | None
    recording_data: Mapping[str, Any] | None = None
    artists: dict[str, Match] = field(default_factory=dict)


def match_track(
    source: MusicBrainzSource,
    *,
    title: str,
    artists: Sequence[str],
    duration_ms: int | None,
    isrc: str | None,
) -> TrackResult:
    """Match one Spotify track (`artists`: its artist names, primary first)."""
    primary = artists[0] if artists else ""
    if isrc:
        candidates = source.recordings_by_isrc(isrc)
        match = choose_recording(candidates, title, primary, duration_ms, method="isrc")
        if match is not None:
            return _with_credits(match, candidates, artists)
    candidates = source.search_recordings(clean_title_for_search(title), primary)
    match = choose_recording(candidates, title, primary, duration_ms, method="search")
    return _with_credits(match, candidates, artists) if match else TrackResult(None)


TRACKLIST_INCLUDES = ("recordings", "artist-credits", "isrcs")


def release_recordings(source: MusicBrainzSource, release_mbid: str) -> list[dict[str, Any]]:
    """The recordings on a release (with ISRCs and credits), in tracklist order; 1 request."""
    release = source.release(release_mbid, includes=TRACKLIST_INCLUDES)
    recordings = []
    for medium in (release or {}).get("medium-list", []):
        for track in medium.get("track-list", []):
            if track.get("recording"):
                recordings.append(track["recording"])
    return recordings


def match_in_tracklist(
    recordings: Sequence[Mapping[str, Any]], track: SpotifyTrack, album_match: Match
) -> TrackResult:
    """Match a track of an already matched album among that release's recordings (pure).

    A recording carrying the track's ISRC is checked like an ISRC lookup hit; otherwise the
    tracklist is treated like search hits (names must agree closely, length within 10 s).
    """
    primary = track.artists[0] if track.artists else ""
    code = (track.isrc or "").strip().upper().replace("-", "")
    by_isrc = [r for r in recordings if code and code in (r.get("isrc-list") or [])]
    if by_isrc:
        match = choose_recording(by_isrc, track.title, primary, track.duration_ms, method="isrc")
        if match is not None:
            return _with_credits(match, by_isrc, track.artists)
    match = choose_recording(recordings, track.title, primary, track.duration_ms)
    if match is None:
        return TrackResult(None)
    # Found by its place on a release identified by barcode (or search): say so.
    return _with_credits(Match(match.mbid, album_match.method, match.score), recordings,
                         track.artists)


def _with_credits(
    match: Match, candidates: Sequence[Mapping[str, Any]], artists: Sequence[str]
) -> TrackResult:
    data = next(c for c in candidates if c.get("id") == match.mbid)
    credited = {}
    for name in artists:
        artist_match = artist_from_credit(data, name, match.method)
        if artist_match is not None:
            credited[name] = artist_match
    return TrackResult(match, data, credited)


def match_album(
    source: MusicBrainzSource,
    *,
    title: str,
    artists: Sequence[str],
    upc: str | None,
    track_count: int | None = None,
    release_date: str | None = None,
) -> Match | None:
    """Match one Spotify album by barcode, else by name + primary artist, count and year."""
    primary = artists[0] if artists else ""
    if upc:
        candidates = source.search_releases_by_barcode(upc)
        match = choose_release(candidates, title, primary, barcode=upc, track_count=track_count,
                               method="barcode")
        if match is not None:
            return match
    candidates = source.search_releases(clean_title_for_search(title), primary)
    return choose_release(candidates, title, primary, track_count=track_count,
                          release_date=release_date, method="search")


def match_artist(
    source: MusicBrainzSource, name: str, *, related_mbids: Collection[str] = ()
) -> Match | None:
    """Match an artist no matched recording credits, by an artist search."""
    return choose_artist(source.search_artists(name), name, related_mbids=related_mbids)


def match_artist_via_credits(
    source: MusicBrainzSource,
    name: str,
    credited: Sequence[Match],
    *,
    related_mbids: Collection[str] = (),
) -> Match | None:
    """An artist from the credits of its matched tracks, else from an artist search.

    `credited` are the `TrackResult.artists[name]` matches of this artist's tracks. When they
    all name one MBID no request is needed; when there are none, or they disagree, an artist
    search decides, with the credited and `related_mbids` artists preferred among namesakes.
    """
    distinct = {m.mbid for m in credited}
    if len(distinct) == 1:
        return max(credited, key=lambda m: m.score)
    return match_artist(source, name, related_mbids={*related_mbids, *distinct})
