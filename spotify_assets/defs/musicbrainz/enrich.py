"""One bounded enrichment pass: pick what is due, match it albums-first, store every decision.

What is due: an entity with no decision yet, or unmatched and past its back-off (1 day, then
7, then 30: `cache.BACKOFF`). An album is due only once its Spotify body (UPC, track count) is
in `spotify_albums`; an artist needs a name or a credit to go on.

The batch: tracks by weight (plays + top-list appearances, most heard first), each bringing
its due album and artists, until `max_entities` entities are in; then artists only tops know.
A first import of years of history is thus worked off a few hundred entities per run, most
listened first, and every run's genres are usable at once.

The order inside a batch is the cascade of `lib/musicbrainz/resolve.py`: albums (barcode, else
search), their tracks inside the matched release's tracklist (one lookup per album, cached),
other tracks by ISRC then search, artists from their tracks' credits (no request), else by
search, then one tags+genres lookup per matched artist.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from spotify_assets.defs.musicbrainz.cache import MatchRow, MbCache, epoch
from spotify_assets.defs.musicbrainz.entities import Seen, SeenAlbum, SeenArtist, SeenTrack
from spotify_assets.defs.musicbrainz.source import CachingSource
from spotify_assets.lib.musicbrainz.client import MusicBrainzUnavailable
from spotify_assets.lib.musicbrainz.matching import Match
from spotify_assets.lib.musicbrainz.resolve import (
    SpotifyTrack,
    TrackResult,
    match_album,
    match_artist_via_credits,
    match_in_tracklist,
    match_track,
    release_recordings,
)

DEFAULT_MAX_ENTITIES = 500
TAG_INCLUDES = ("tags", "genres")


@dataclass
class Batch:
    albums: list[SeenAlbum] = field(default_factory=list)
    tracks: list[SeenTrack] = field(default_factory=list)
    artists: list[SeenArtist] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.albums) + len(self.tracks) + len(self.artists)


@dataclass
class Decisions:
    """The cache's decisions per kind, read once per pass."""

    track: dict[str, MatchRow]
    album: dict[str, MatchRow]
    artist: dict[str, MatchRow]

    @classmethod
    def load(cls, cache: MbCache) -> Decisions:
        return cls(cache.matches("track"), cache.matches("album"), cache.matches("artist"))


@dataclass
class Due:
    """Ids that may be asked about now."""

    albums: set[str]
    tracks: set[str]
    artists: set[str]

    def __len__(self) -> int:
        return len(self.albums) + len(self.tracks) + len(self.artists)


@dataclass
class EnrichmentReport:
    asked: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(("album", "track", "artist"), 0)
    )
    matched: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(("album", "track", "artist"), 0)
    )
    tag_lookups: int = 0
    requests: int = 0
    cache_hits: int = 0
    due_before: int = 0
    due_after: int = 0
    stopped: str | None = None

    @property
    def entities(self) -> int:
        return sum(self.asked.values())

    @property
    def requests_per_entity(self) -> float:
        return self.requests / self.entities if self.entities else 0.0


def _is_due(decision: MatchRow | None, now: float) -> bool:
    return decision is None or decision.due(now)


def due_entities(seen: Seen, decisions: Decisions, credited: set[str], now: float) -> Due:
    """What may be asked now. `credited`: Spotify artist ids found on a matched credit."""
    albums = {
        a.album_id
        for a in seen.albums.values()
        if a.body is not None
        and a.body.status == "ok"
        and _is_due(decisions.album.get(a.album_id), now)
    }
    tracks = {t for t in seen.tracks if _is_due(decisions.track.get(t), now)}
    artists = {
        a.artist_id
        for a in seen.artists.values()
        if (a.name or a.artist_id in credited) and _is_due(decisions.artist.get(a.artist_id), now)
    }
    return Due(albums, tracks, artists)


def due_now(cache: MbCache, seen: Seen, now: datetime) -> Due:
    """What may be asked at `now`, from the cache's decisions and credits."""
    credited = {c.artist_id for c in cache.credits()}
    return due_entities(seen, Decisions.load(cache), credited, epoch(now))


def plan_batch(seen: Seen, due: Due, max_entities: int) -> Batch:
    """Up to `max_entities` due entities, most heard tracks first, each with its album and
    artists (see the module docstring)."""
    batch = Batch()
    chosen: set[tuple[str, str]] = set()

    def take(kind: str, entity_id: str, pool: set[str]) -> bool:
        if len(batch) >= max_entities:
            return False
        if entity_id in pool and (kind, entity_id) not in chosen:
            chosen.add((kind, entity_id))
            if kind == "album":
                batch.albums.append(seen.albums[entity_id])
            elif kind == "track":
                batch.tracks.append(seen.tracks[entity_id])
            else:
                batch.artists.append(seen.artists[entity_id])
        return True

    for track in sorted(seen.tracks.values(), key=lambda t: (-t.weight, t.track_id)):
        if track.album_id and not take("album", track.album_id, due.albums):
            return batch
        if not take("track", track.track_id, due.tracks):
            return batch
        for artist_id in track.artist_ids:
            if not take("artist", artist_id, due.artists):
                return batch
    for artist in sorted(seen.artists.values(), key=lambda a: (-a.weight, a.artist_id)):
        if not take("artist", artist.artist_id, due.artists):
            break
    return batch


class Enricher:
    """Runs passes over `seen` with a cache, a MusicBrainz client and a clock (tests inject it)."""

    def __init__(self, cache: MbCache, client: Any, clock: Callable[[], datetime]) -> None:
        self.cache = cache
        self.clock = clock
        self.source = CachingSource(client, cache, clock)

    def due(self, seen: Seen) -> Due:
        return due_now(self.cache, seen, self.clock())

    def run(self, seen: Seen, max_entities: int = DEFAULT_MAX_ENTITIES) -> EnrichmentReport:
        """One pass of at most `max_entities` entities; MusicBrainz failing stops it early
        (`report.stopped`) with every answer so far kept."""
        report = EnrichmentReport()
        due = self.due(seen)
        report.due_before = len(due)
        batch = plan_batch(seen, due, max_entities)
        requests, hits = self.source.requests, self.source.hits
        try:
            self._albums(batch.albums, report)
            self._tracks(seen, batch.tracks, report)
            self._artists(seen, batch.artists, report)
            self._artist_tags(report)
        except MusicBrainzUnavailable as exc:
            report.stopped = str(exc)
        report.requests = self.source.requests - requests
        report.cache_hits = self.source.hits - hits
        report.due_after = len(self.due(seen))
        return report

    # --- steps ---

    def _record(
        self, kind: str, spotify_id: str, match: Match | None, report: EnrichmentReport
    ) -> None:
        self.cache.record(kind, spotify_id, match, epoch(self.clock()))
        report.asked[kind] += 1
        report.matched[kind] += match is not None

    def _fresh_for(self, kind: str, spotify_id: str) -> Any:
        """A retry (the entity was asked before) must not reuse the answers that failed it."""
        asked_before = self.cache.matches_one(kind, spotify_id) is not None
        return self.source.fresh_since(self.clock() if asked_before else None)

    def _albums(self, albums: Iterable[SeenAlbum], report: EnrichmentReport) -> None:
        for album in albums:
            body = album.body
            assert body is not None  # due albums have one
            match = None
            # Nothing to look up by (no name, no barcode): unmatched without a request.
            if (body.name or "").strip() or body.upc:
                with self._fresh_for("album", album.album_id):
                    match = match_album(
                        self.source,
                        title=body.name or "",
                        artists=list(body.artist_names),
                        upc=body.upc,
                        track_count=body.total_tracks,
                        release_date=body.release_date,
                    )
            self._record("album", album.album_id, match, report)

    def _tracks(self, seen: Seen, tracks: Iterable[SeenTrack], report: EnrichmentReport) -> None:
        albums = self.cache.matches("album")
        for track in tracks:
            names = seen.artist_names(track)
            with self._fresh_for("track", track.track_id):
                result = self._in_album(track, names, albums.get(track.album_id or ""))
                # A track the lake never named cannot be checked against any candidate.
                if (result is None or result.recording is None) and track.title.strip():
                    result = match_track(
                        self.source,
                        title=track.title,
                        artists=names,
                        duration_ms=track.duration_ms,
                        isrc=track.isrc,
                    )
            result = result or TrackResult(None)
            self._record("track", track.track_id, result.recording, report)
            if result.recording is not None:
                self._record_credits(track, names, result)

    def _in_album(
        self, track: SeenTrack, names: list[str], album: MatchRow | None
    ) -> TrackResult | None:
        if album is None or album.status != "matched" or album.mbid is None:
            return None
        recordings = release_recordings(self.source, album.mbid)
        spotify = SpotifyTrack(track.title, names, track.duration_ms, track.isrc)
        album_match = Match(album.mbid, album.method or "search", album.score or 0.0)
        return match_in_tracklist(recordings, spotify, album_match)

    def _record_credits(self, track: SeenTrack, names: list[str], result: TrackResult) -> None:
        credits = {
            artist_id: result.artists[name]
            for artist_id, name in zip(track.artist_ids, names, strict=False)
            if name in result.artists
        }
        related = [
            credit["artist"]["id"]
            for credit in (result.recording_data or {}).get("artist-credit", [])
            if isinstance(credit, dict) and credit.get("artist", {}).get("id")
        ]
        self.cache.record_credits(track.track_id, credits, related)

    def _artists(self, seen: Seen, artists: Iterable[SeenArtist], report: EnrichmentReport) -> None:
        artists = list(artists)
        if not artists:
            return
        credited: dict[str, list[Match]] = {}
        for credit in self.cache.credits():
            credited.setdefault(credit.artist_id, []).append(credit.match)
        related_by_track = self.cache.related()
        related: dict[str, set[str]] = {}
        for track in seen.tracks.values():
            for artist_id in track.artist_ids:
                related.setdefault(artist_id, set()).update(
                    related_by_track.get(track.track_id, ())
                )
        for artist in artists:
            found = credited.get(artist.artist_id, [])
            with self._fresh_for("artist", artist.artist_id):
                if artist.name:
                    match = match_artist_via_credits(
                        self.source,
                        artist.name,
                        found,
                        related_mbids=related.get(artist.artist_id, set()),
                    )
                else:
                    # Nothing to search with: only unanimous credits can name it.
                    match = found[0] if len({m.mbid for m in found}) == 1 else None
            self._record("artist", artist.artist_id, match, report)

    def _artist_tags(self, report: EnrichmentReport) -> None:
        """Tags and genres of every matched artist that has none stored yet (1 lookup each)."""
        tagged = self.cache.tagged("artist")
        mbids = sorted(
            {
                row.mbid
                for row in self.cache.matches("artist").values()
                if row.status == "matched" and row.mbid and row.mbid not in tagged
            }
        )
        for mbid in mbids:
            data = self.source.artist(mbid, TAG_INCLUDES) or {}
            self.cache.record_tags(
                "artist",
                mbid,
                _votes(data.get("tag-list")),
                _votes(data.get("genre-list")),
                epoch(self.clock()),
            )
            report.tag_lookups += 1


def _votes(items: object) -> list[tuple[str, int]]:
    """(name, count) pairs of a musicbrainzngs tag-list or genre-list."""
    votes: dict[str, int] = {}
    for item in items if isinstance(items, list) else []:
        name = (item.get("name") or "").strip() if isinstance(item, dict) else ""
        if not name:
            continue
        try:
            count = int(item.get("count", 0))
        except (TypeError, ValueError):
            count = 0
        votes[name] = max(votes.get(name, 0), count)
    return sorted(votes.items())
