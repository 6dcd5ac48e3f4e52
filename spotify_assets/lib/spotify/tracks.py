"""Describe the tracks plays name but the lake cannot describe, with the fewest Spotify requests.

Two kinds of need:
- `IdNeed`: a track id (extended exports carry `spotify_track_uri`) whose artists and album no
  poll, top list or fetched album told us. One `GET /tracks/{id}` describes one track; one
  `GET /albums/{id}` describes every track it lists (up to 50). So needs are grouped by album:
  by an album id when the caller knows one (a fetched album lists the track, or a followed
  artist's release has the export's album name), else by the album name and album artist the
  export gave. A group fetches its album only while two or more of its tracks
  are still unknown (then one request replaces two or more); the album is learnt from the known
  id, or from the first track looked up. A track the album body does not list (a group that was
  two albums of one name) is looked up on its own. Every body fetched in a run is reused.
- `NameNeed`: a title and artist without any id (account-data exports). One search
  (`GET /search?type=track`, 10 results) per distinct name. A result counts when its title and
  one credited artist equal the play's, folded (case, width, spacing, curly quotes, a
  "feat."/"ft."/"featuring" part or a bracketed "(with ...)"). Exactly one track: resolved. Two
  or more (an album and its deluxe edition, a single and its album track): `ambiguous`, and the
  track id is NOT guessed; only what every candidate agrees on (artist ids, ISRC) is kept. None:
  `unresolved`. A second equal title ranked below Spotify's first 10 results would go unseen.

Any active user's token reads the catalogue; a user who must log in again is dropped for the
next one. Rate limiting or quota stops the run's requests (the rest waits for the next run);
another failure leaves that one track for the next run. Requests are counted per endpoint.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from spotify_assets.lib.spotify import auth
from spotify_assets.lib.spotify.errors import (
    NotFoundError,
    QuotaExceededError,
    RateLimitDeferred,
    ReauthorizationRequired,
    SpotifyError,
)
from spotify_assets.lib.spotify.models import Album, Paging, SimplifiedTrack, Track
from spotify_assets.lib.spotify.search import SEARCH_ENDPOINT

R = TypeVar("R")

TRACK_ENDPOINT = "GET /v1/tracks/{id}"
ALBUM_ENDPOINT = "GET /v1/albums/{id}"
# After this many failures in a row (server errors, bad bodies) the run stops asking.
MAX_FAILURES_IN_A_ROW = 5

_FEAT_BRACKET = re.compile(r"\s*[(\[]\s*(?:feat\.?|ft\.?|featuring|with)\s[^)\]]*[)\]]")
_FEAT_TAIL = re.compile(r"\s+(?:feat\.|ft\.|featuring)\s.*$")
_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"'})


def match_name(text: str | None) -> str:
    """A title or artist name folded for equality: NFKC, casefold, curly quotes, spacing, and
    without a "feat." part (a featured artist is credited in `artists` anyway)."""
    folded = unicodedata.normalize("NFKC", text or "").casefold().translate(_QUOTES)
    folded = _FEAT_TAIL.sub("", _FEAT_BRACKET.sub("", folded))
    return " ".join(folded.split()).rstrip(" -")


class CatalogClient(Protocol):
    """What resolution calls on `SpotifyClient`."""

    def track(self, user_id: str, track_id: str) -> Track: ...

    def album(self, user_id: str, album_id: str) -> Album: ...

    def search_tracks(
        self, user_id: str, title: str, artist: str | None = None, limit: int = ...
    ) -> Paging[Track]: ...


@dataclass(frozen=True)
class IdNeed:
    track_id: str
    album_id: str | None  # the album it is (likely) on: its body is trusted for what it lists
    album_hint: str  # folded album name + album artist from the export, to group by album
    weight: int  # plays: the most heard are asked first


@dataclass(frozen=True)
class NameNeed:
    track_key: str
    title: str
    artist: str
    weight: int


@dataclass(frozen=True)
class ResolvedTrack:
    track_id: str | None
    name: str | None
    artist_ids: tuple[str, ...]
    artist_names: tuple[str, ...]
    album_id: str | None
    album_name: str | None
    isrc: str | None
    duration_ms: int | None
    resolved_by: str  # lookup | album_lookup | search | ambiguous | unresolved | not_found
    candidates: int | None = None  # name needs: distinct tracks that matched


@dataclass
class Resolution:
    by_id: dict[str, ResolvedTrack] = field(default_factory=dict)
    by_name: dict[str, ResolvedTrack] = field(default_factory=dict)
    requests: Counter[str] = field(default_factory=Counter)  # endpoint template -> requests
    failures: int = 0
    stopped: str | None = None
    notes: list[str] = field(default_factory=list)


class _Stop(Exception):
    """No more requests this run."""


class _Callers:
    """Runs each request with the first user whose login still works; counts and budgets."""

    def __init__(self, users: list[tuple[str, str]], budget: int, result: Resolution) -> None:
        self.users = list(users)  # (user id, handle)
        self.budget = budget
        self.result = result
        self.failures_in_a_row = 0

    def call(self, endpoint: str, ask: Callable[[str], R]) -> R:
        """`ask(user_id)`; NotFoundError and other item failures propagate to the caller."""
        while self.users:
            if sum(self.result.requests.values()) >= self.budget:
                raise _Stop(f"the run's budget of {self.budget} requests is spent")
            user_id, handle = self.users[0]
            self.result.requests[endpoint] += 1
            try:
                answer = ask(user_id)
            except ReauthorizationRequired as exc:
                if exc.endpoint == auth.TOKEN_ENDPOINT:  # refused at login: the API never saw it
                    self.result.requests[endpoint] -= 1
                self.result.notes.append(f"user {handle} skipped: must log in again")
                self.users.pop(0)
                continue
            except (RateLimitDeferred, QuotaExceededError) as exc:
                raise _Stop(f"{type(exc).__name__} (HTTP {exc.status}) at {endpoint}") from None
            except NotFoundError:
                self.failures_in_a_row = 0
                raise
            except SpotifyError as exc:
                self.result.failures += 1
                self.failures_in_a_row += 1
                if self.failures_in_a_row >= MAX_FAILURES_IN_A_ROW:
                    raise _Stop(f"{self.failures_in_a_row} failures in a row, last: "
                                f"{type(exc).__name__} (HTTP {exc.status}) at {endpoint}") from None
                raise
            self.failures_in_a_row = 0
            return answer
        raise _Stop("no active user with a valid login")


def _artists(track: SimplifiedTrack) -> tuple[tuple[str, ...], tuple[str, ...]]:
    credited = [a for a in track.artists if a.id]
    return tuple(a.id for a in credited if a.id), tuple(a.name for a in credited)


def _from_track(track: Track, resolved_by: str) -> ResolvedTrack:
    ids, names = _artists(track)
    return ResolvedTrack(
        track.id,
        track.name,
        ids,
        names,
        track.album.id if track.album else None,
        track.album.name if track.album else None,
        track.external_ids.isrc if track.external_ids else None,
        track.duration_ms,
        resolved_by,
    )


def _from_album(track: SimplifiedTrack, album: Album) -> ResolvedTrack:
    ids, names = _artists(track)
    return ResolvedTrack(
        track.id, track.name, ids, names, album.id, album.name, None, track.duration_ms,
        "album_lookup",
    )


def _not_found(track_id: str) -> ResolvedTrack:
    return ResolvedTrack(track_id, None, (), (), None, None, None, None, "not_found")


def _resolve_ids(
    client: CatalogClient, callers: _Callers, needs: Iterable[IdNeed], result: Resolution
) -> None:
    groups: dict[tuple[str, str], list[IdNeed]] = {}
    for need in needs:
        key = ("album", need.album_id) if need.album_id else ("hint", need.album_hint)
        groups.setdefault(key, []).append(need)
    ordered = sorted(
        groups.items(), key=lambda kv: (-sum(n.weight for n in kv[1]), kv[0])
    )
    albums: dict[str, Album | None] = {}  # fetched this run (None: 404)
    for (kind, value), group in ordered:
        pending = deque(n.track_id for n in sorted(group, key=lambda n: (-n.weight, n.track_id)))
        album_id = value if kind == "album" else None
        while pending:
            if album_id and album_id not in albums and len(pending) >= 2:
                try:
                    albums[album_id] = callers.call(
                        ALBUM_ENDPOINT, lambda user, a=album_id: client.album(user, a)
                    )
                except NotFoundError:
                    albums[album_id] = None
                except SpotifyError:
                    album_id = None
                    continue
            body = albums.get(album_id) if album_id else None
            if body is not None:
                listed = {t.id: t for t in (body.tracks.items if body.tracks else []) if t.id}
                for track_id in [t for t in pending if t in listed]:
                    result.by_id[track_id] = _from_album(listed[track_id], body)
                pending = deque(t for t in pending if t not in listed)
                album_id = None
                continue
            track_id = pending.popleft()
            try:
                track = callers.call(TRACK_ENDPOINT, lambda user, t=track_id: client.track(user, t))
            except NotFoundError:
                result.by_id[track_id] = _not_found(track_id)
                album_id = None
                continue
            except SpotifyError:
                album_id = None  # left for the next run
                continue
            result.by_id[track_id] = _from_track(track, "lookup")
            album_id = track.album.id if track.album and track.album.id else None


def _agreed(values: list[Any]) -> Any:
    return values[0] if values and all(v == values[0] for v in values) else None


def match_candidates(page: Paging[Track], title: str, artist: str) -> list[Track]:
    """The results whose title and one credited artist equal the play's (folded), one per id."""
    want_title, want_artist = match_name(title), match_name(artist)
    found: dict[str, Track] = {}
    for track in page.items:
        if not track.id or match_name(track.name) != want_title:
            continue
        if want_artist and want_artist not in {match_name(a.name) for a in track.artists}:
            continue
        found.setdefault(track.id, track)
    return list(found.values())


def from_candidates(candidates: list[Track]) -> ResolvedTrack:
    if not candidates:
        return ResolvedTrack(None, None, (), (), None, None, None, None, "unresolved", 0)
    if len(candidates) == 1:
        return dataclasses.replace(_from_track(candidates[0], "search"), candidates=1)
    resolved = [_from_track(t, "ambiguous") for t in candidates]
    artists = _agreed([(r.artist_ids, r.artist_names) for r in resolved]) or ((), ())
    return ResolvedTrack(
        None,
        _agreed([r.name for r in resolved]),
        artists[0],
        artists[1],
        _agreed([r.album_id for r in resolved]),
        _agreed([r.album_name for r in resolved]),
        _agreed([r.isrc for r in resolved]),
        None,
        "ambiguous",
        len(candidates),
    )


def _resolve_names(
    client: CatalogClient, callers: _Callers, needs: Iterable[NameNeed], result: Resolution
) -> None:
    for need in sorted(needs, key=lambda n: (-n.weight, n.track_key)):
        if not match_name(need.title):
            result.by_name[need.track_key] = from_candidates([])
            continue
        try:
            page = callers.call(
                SEARCH_ENDPOINT,
                lambda user, n=need: client.search_tracks(user, n.title, n.artist or None),
            )
        except SpotifyError:
            continue  # left for the next run
        result.by_name[need.track_key] = from_candidates(
            match_candidates(page, need.title, need.artist)
        )


def resolve_tracks(
    client: CatalogClient,
    users: list[tuple[str, str]],
    id_needs: Iterable[IdNeed],
    name_needs: Iterable[NameNeed],
    max_requests: int,
) -> Resolution:
    """Resolve what it can within `max_requests`; what is left out is asked next run."""
    result = Resolution()
    callers = _Callers(users, max_requests, result)
    try:
        _resolve_ids(client, callers, id_needs, result)
        _resolve_names(client, callers, name_needs, result)
    except _Stop as stop:
        result.stopped = str(stop)
    return result
