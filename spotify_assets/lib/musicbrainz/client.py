"""A polite MusicBrainz ws/2 client over `musicbrainzngs` 0.7.1.

Politeness is ours, not the library's:
- Rate: musicbrainzngs's own limiter is switched off (its maths are wrong for non-default
  settings, alastair/python-musicbrainzngs#294, and it is per process). Every HTTP attempt,
  retries included, runs inside a slot of `FileRateLimiter` on
  `state_dir/musicbrainz.ratelimit`, which starts a request no sooner than 1 s after the
  previous one (from any process) finished.
- Retries: musicbrainzngs retries 5xx/429 eight times inside `_safe_read`, sleeping 2..14 s
  with `time.sleep` (56 s) and without passing through any limiter. While one of our calls runs,
  `_safe_read` is wrapped to make exactly one attempt (its own `max_retries` parameter, set to 1)
  with a socket timeout; our loop then retries with exponential backoff through the injected
  `sleep` (tests skip it) and through the limiter. We chose this over patching
  `musicbrainzngs.musicbrainz.time`: that module object also drives the library's limiter
  clock, and faking it would silently change more than the retry sleeps.
- Genres: 0.7.1 rejects `inc=genres` and its parser drops `<genre-list>`. While our call runs,
  "genres" is added to `VALID_INCLUDES` for artist/recording/release/release-group (what
  upstream did after 0.7.1) and the parser is wrapped: it returns exactly what
  `mbxml.parse_message` returns and, when the XML has one, adds `genre-list` (same shape as
  `tag-list`, plus `id`) to the top-level entity, or to each entity of a search list.

musicbrainzngs keeps hostname, user agent, parser and limiter in module globals; each call sets
them under a process-wide lock and restores them afterwards, so clients with different settings
can share a process and nothing leaks outside our calls.
"""

from __future__ import annotations

import contextlib
import random
import re
import threading
import time
import urllib.error
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import musicbrainzngs
from musicbrainzngs import musicbrainz as mb

from spotify_assets.lib.musicbrainz.normalize import barcode_variants
from spotify_assets.lib.musicbrainz.ratelimit import FileRateLimiter
from spotify_assets.lib.settings import Settings

_NS = "{http://musicbrainz.org/ns/mmd-2.0#}"
_ISRC = re.compile(r"^[A-Z]{2}[A-Z0-9]{3}[0-9]{7}$")
_MBID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_USER_AGENT = re.compile(
    r"^\s*(?P<app>[^/\s]+)/(?P<version>[^\s(]+)\s*(?:\((?P<contact>.*)\))?\s*$"
)
_GENRE_ENTITIES = ("artist", "recording", "release", "release-group")
# Transient answers worth another attempt; musicbrainzngs raises everything else at once.
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_LIBRARY_LOCK = threading.RLock()
_ORIGINAL_SAFE_READ = mb._safe_read
_LOOKUPS: dict[str, Callable[..., dict[str, Any]]] = {
    "artist": musicbrainzngs.get_artist_by_id,
    "recording": musicbrainzngs.get_recording_by_id,
    "release": musicbrainzngs.get_release_by_id,
    "release-group": musicbrainzngs.get_release_group_by_id,
    "label": musicbrainzngs.get_label_by_id,
    "work": musicbrainzngs.get_work_by_id,
    "discid": musicbrainzngs.get_releases_by_discid,
    "isrc": musicbrainzngs.get_recordings_by_isrc,
}
_SEARCHES: dict[str, Callable[..., dict[str, Any]]] = {
    "artist": musicbrainzngs.search_artists,
    "recording": musicbrainzngs.search_recordings,
    "release": musicbrainzngs.search_releases,
    "release-group": musicbrainzngs.search_release_groups,
    "label": musicbrainzngs.search_labels,
    "work": musicbrainzngs.search_works,
}
DEFAULT_INCLUDES: dict[str, tuple[str, ...]] = {
    "artist": ("tags", "genres"),
    "recording": ("artists", "tags", "genres"),
    "release": ("artist-credits", "release-groups", "tags", "genres"),
    "release-group": ("artist-credits", "tags", "genres"),
}


class MusicBrainzUnavailable(RuntimeError):
    """MusicBrainz did not give a usable answer for `path` (after retries, or a permanent error)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"MusicBrainz request {path} failed: {reason}")
        self.path = path
        self.reason = reason


class MusicBrainzConfigError(ValueError):
    """MUSICBRAINZ_URL or MUSICBRAINZ_USER_AGENT cannot be used."""


def parse_user_agent(value: str) -> tuple[str, str, str | None]:
    """Split "app/version ( contact )" into the three parts `set_useragent` wants."""
    match = _USER_AGENT.match(value or "")
    if match is None:
        raise MusicBrainzConfigError(
            f"MUSICBRAINZ_USER_AGENT {value!r} must look like 'app/1.0 ( you@example.org )'"
        )
    contact = (match.group("contact") or "").strip() or None
    return match.group("app"), match.group("version"), contact


def parse_base_url(value: str) -> tuple[str, bool]:
    """(host[:port], use_https) from MUSICBRAINZ_URL; musicbrainzngs cannot take a path prefix."""
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise MusicBrainzConfigError(f"MUSICBRAINZ_URL {value!r} is not an http(s) URL")
    if parsed.path not in ("", "/") or parsed.query:
        raise MusicBrainzConfigError(
            f"MUSICBRAINZ_URL {value!r} must be scheme://host[:port] (the client adds /ws/2)"
        )
    return parsed.netloc, parsed.scheme == "https"


def parse_genres(raw: bytes, message: dict[str, Any]) -> dict[str, Any]:
    """Add the `<genre-list>` elements musicbrainzngs 0.7.1 drops to its parsed `message`."""
    root = ET.fromstring(raw)
    for child in root:
        key = child.tag.removeprefix(_NS)
        if key.endswith("-list") and isinstance(message.get(key), list):
            for element, parsed in zip(child, message[key], strict=False):
                _attach_genres(element, parsed)
        elif isinstance(message.get(key), dict):
            _attach_genres(child, message[key])
    return message


def _attach_genres(element: ET.Element, parsed: dict[str, Any]) -> None:
    genre_list = element.find(f"{_NS}genre-list")
    if genre_list is None:
        return
    genres = []
    for genre in genre_list.findall(f"{_NS}genre"):
        item = {"name": genre.findtext(f"{_NS}name") or ""}
        item.update({k: v for k, v in genre.attrib.items() if k in ("count", "id")})
        genres.append(item)
    parsed["genre-list"] = genres
    if "count" in genre_list.attrib:
        parsed["genre-count"] = int(genre_list.attrib["count"])


def _parse_with_genres(raw: bytes) -> dict[str, Any]:
    message = mb.mb_parser_xml(raw)
    try:
        return parse_genres(raw, message)
    except ET.ParseError:
        # mb_parser_xml already accepted it; a second parser disagreeing is not worth failing.
        return message


def _status_of(exc: BaseException) -> int | None:
    cause = getattr(exc, "cause", None)
    return cause.code if isinstance(cause, urllib.error.HTTPError) else None


def _retry_after_of(exc: BaseException) -> float | None:
    cause = getattr(exc, "cause", None)
    if not isinstance(cause, urllib.error.HTTPError) or cause.headers is None:
        return None
    try:
        return float(cause.headers.get("Retry-After", ""))
    except ValueError:
        return None


class MusicBrainzClient:
    """MusicBrainz lookups and searches at <= 1 request/s per deployment.

    Not found (404) gives None or an empty list; anything else that fails after retries raises
    `MusicBrainzUnavailable`. `sleep` is used for limiter waits and retry backoff (tests pass a
    recorder). `min_interval_s` is for tests only; production is 1.0, as MusicBrainz asks.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        lock_path: Path | None = None,
        min_interval_s: float = 1.0,
        max_attempts: int = 6,
        backoff_base_s: float = 2.0,
        backoff_cap_s: float = 60.0,
    ) -> None:
        self._app, self._version, self._contact = parse_user_agent(
            settings.musicbrainz_user_agent
        )
        self._host, self._https = parse_base_url(settings.musicbrainz_url)
        self._timeout_s = settings.http_timeout_s
        self._sleep = sleep
        self._max_attempts = max(1, max_attempts)
        self._backoff_base_s = backoff_base_s
        self._backoff_cap_s = backoff_cap_s
        self._jitter = random.Random()
        path = lock_path or settings.state_dir / "musicbrainz.ratelimit"
        self.limiter = FileRateLimiter(path, min_interval_s, sleep=sleep)

    def __repr__(self) -> str:
        scheme = "https" if self._https else "http"
        return f"MusicBrainzClient({scheme}://{self._host}, agent={self._app}/{self._version})"

    # --- public API ------------------------------------------------------------------------

    def recordings_by_isrc(
        self, isrc: str, includes: Sequence[str] = ("artists", "releases")
    ) -> list[dict[str, Any]]:
        """Recordings carrying this ISRC (several are possible); [] if none or malformed."""
        code = (isrc or "").strip().upper().replace("-", "")
        if not _ISRC.match(code):
            # MusicBrainz answers 400 for these; no recording can carry one, so don't ask.
            return []
        message = self.lookup_message("isrc", code, includes)
        return [] if message is None else message["isrc"].get("recording-list", [])

    def search_releases_by_barcode(self, barcode: str) -> list[dict[str, Any]]:
        """Releases whose barcode is any variant of `barcode` (one request for all variants)."""
        variants = barcode_variants(barcode)
        if not variants:
            return []
        # Terms inside one field group are OR-ed by the search server, so one request covers
        # the as-given, unpadded and padded forms.
        message = self.search_message("release", limit=25, barcode=" ".join(variants))
        hits = message.get("release-list", []) if message else []
        return [r for r in hits if (r.get("barcode") or "") in variants]

    def search_recordings(self, title: str, artist: str, limit: int = 10) -> list[dict[str, Any]]:
        message = self.search_message("recording", limit=limit, recording=title, artist=artist)
        return message.get("recording-list", []) if message else []

    def search_releases(self, title: str, artist: str, limit: int = 10) -> list[dict[str, Any]]:
        message = self.search_message("release", limit=limit, release=title, artist=artist)
        return message.get("release-list", []) if message else []

    def search_release_groups(
        self, title: str, artist: str, limit: int = 10
    ) -> list[dict[str, Any]]:
        message = self.search_message(
            "release-group", limit=limit, releasegroup=title, artist=artist
        )
        return message.get("release-group-list", []) if message else []

    def search_artists(self, name: str, limit: int = 10) -> list[dict[str, Any]]:
        message = self.search_message("artist", limit=limit, artist=name)
        return message.get("artist-list", []) if message else []

    def releases_by_artist_between(
        self, artist_mbid: str, since: str, until: str, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Releases crediting the artist dated in [since, until] ("YYYY-MM-DD"), one search:
        `arid:<mbid> AND date:[since TO until]` (sent as a raw Lucene query)."""
        if not _MBID.match(artist_mbid or ""):
            raise ValueError(f"not a MusicBrainz id: {artist_mbid!r}")
        for value in (since, until):
            if not _DAY.match(value or ""):
                raise ValueError(f"not a YYYY-MM-DD date: {value!r}")
        query = f"arid:{artist_mbid} AND date:[{since} TO {until}]"
        message = self.search_message("release", limit=limit, query=query)
        return message.get("release-list", []) if message else []

    def artist(
        self, mbid: str, includes: Sequence[str] = DEFAULT_INCLUDES["artist"]
    ) -> dict[str, Any] | None:
        return self._entity("artist", mbid, includes)

    def recording(
        self, mbid: str, includes: Sequence[str] = DEFAULT_INCLUDES["recording"]
    ) -> dict[str, Any] | None:
        return self._entity("recording", mbid, includes)

    def release(
        self, mbid: str, includes: Sequence[str] = DEFAULT_INCLUDES["release"]
    ) -> dict[str, Any] | None:
        return self._entity("release", mbid, includes)

    def release_group(
        self, mbid: str, includes: Sequence[str] = DEFAULT_INCLUDES["release-group"]
    ) -> dict[str, Any] | None:
        return self._entity("release-group", mbid, includes)

    def lookup_message(
        self, entity: str, entity_id: str, includes: Sequence[str] = ()
    ) -> dict[str, Any] | None:
        """The whole parsed answer of `GET /ws/2/{entity}/{id}?inc=...`, None on 404."""
        if entity not in _LOOKUPS:
            raise ValueError(f"no MusicBrainz lookup for entity {entity!r}")
        path = f"/ws/2/{entity}/{entity_id}"
        return self._call(path, _LOOKUPS[entity], entity_id, includes=list(includes))

    def search_message(
        self, entity: str, *, limit: int | None = None, **fields: str
    ) -> dict[str, Any] | None:
        """The whole parsed answer of `GET /ws/2/{entity}/?query=field:(value) ...`."""
        if entity not in _SEARCHES:
            raise ValueError(f"no MusicBrainz search for entity {entity!r}")
        terms = {k: v for k, v in fields.items() if v}
        if not terms:
            raise ValueError(f"a {entity} search needs at least one non-empty field")
        return self._call(f"/ws/2/{entity}/", _SEARCHES[entity], limit=limit, **terms)

    # --- machinery -------------------------------------------------------------------------

    def _entity(self, entity: str, mbid: str, includes: Sequence[str]) -> dict[str, Any] | None:
        message = self.lookup_message(entity, mbid, includes)
        return None if message is None else message.get(entity)

    def _call(self, path: str, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        last_reason = "no attempt made"
        last_retry_after: float | None = None
        for attempt in range(self._max_attempts):
            if attempt:
                self._sleep(self._backoff(attempt, last_retry_after))
            last_retry_after = None
            # The slot is taken inside the library lock so it spans exactly this request.
            with _LIBRARY_LOCK, self._library_configured(), self.limiter.slot():
                try:
                    return function(*args, **kwargs)
                except musicbrainzngs.ResponseError as exc:
                    status = _status_of(exc)
                    if status == 404:
                        return None
                    if status is not None:
                        raise MusicBrainzUnavailable(path, f"HTTP {status}: {exc}") from exc
                    # A body that does not parse (cut off by a proxy, say) may be transient.
                    last_reason = f"unreadable response: {exc.cause}"
                except musicbrainzngs.AuthenticationError as exc:
                    raise MusicBrainzUnavailable(path, f"HTTP 401: {exc}") from exc
                except musicbrainzngs.NetworkError as exc:
                    status = _status_of(exc)
                    if status is not None and status not in _RETRY_STATUSES:
                        raise MusicBrainzUnavailable(path, f"HTTP {status}") from exc
                    last_reason = f"HTTP {status}" if status else f"network error: {exc.cause}"
                    last_retry_after = _retry_after_of(exc)
        raise MusicBrainzUnavailable(path, f"{last_reason} after {self._max_attempts} attempts")

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        delay = min(self._backoff_cap_s, self._backoff_base_s * 2 ** (attempt - 1))
        if retry_after is not None:
            delay = max(delay, min(retry_after, self._backoff_cap_s))
        # Jitter so two runs that were refused together do not come back together.
        return delay + self._jitter.uniform(0, delay / 4)

    @contextlib.contextmanager
    def _library_configured(self) -> Iterator[None]:
        saved = (mb.hostname, mb.https, mb._useragent, mb._client, mb.parser_fun,
                 mb.do_rate_limit, mb._safe_read)
        saved_includes = {e: list(mb.VALID_INCLUDES[e]) for e in _GENRE_ENTITIES}
        timeout = self._timeout_s
        try:
            musicbrainzngs.set_hostname(self._host, use_https=self._https)
            musicbrainzngs.set_useragent(self._app, self._version, self._contact)
            musicbrainzngs.set_rate_limit(False)
            musicbrainzngs.set_parser(_parse_with_genres)
            for entity in _GENRE_ENTITIES:
                if "genres" not in mb.VALID_INCLUDES[entity]:
                    mb.VALID_INCLUDES[entity].append("genres")

            def single_attempt(opener: Any, req: Any, body: Any = None, *_: Any, **__: Any) -> Any:
                return _ORIGINAL_SAFE_READ(_TimeoutOpener(opener, timeout), req, body,
                                           max_retries=1)

            mb._safe_read = single_attempt
            yield
        finally:
            (mb.hostname, mb.https, mb._useragent, mb._client, mb.parser_fun,
             mb.do_rate_limit, mb._safe_read) = saved
            for entity, includes in saved_includes.items():
                mb.VALID_INCLUDES[entity][:] = includes


class _TimeoutOpener:
    """An urllib opener whose `open` has a timeout: musicbrainzngs passes none (waits forever)."""

    def __init__(self, opener: Any, timeout_s: float) -> None:
        self._opener = opener
        self._timeout_s = timeout_s

    def open(self, req: Any, data: Any = None) -> Any:
        return self._opener.open(req, data, timeout=self._timeout_s)
