"""`CachingSource`: the matching cascade's view of MusicBrainz, answered from the cache first.

It has the methods of `resolve.MusicBrainzSource` (plus `artist` for tags). Each call is keyed
by its method and arguments; a cached answer (found or not) is returned without a request,
otherwise the client asks (through its cross-process 1 request/s limiter) and the answer is
stored before it is returned. `fresh_since` makes older answers misses: an entity retried after
its back-off must see today's MusicBrainz, not the answer that failed it.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any, Protocol

from spotify_assets.defs.musicbrainz.cache import MbCache, epoch
from spotify_assets.lib.musicbrainz.resolve import MusicBrainzSource


class MusicBrainzClientLike(MusicBrainzSource, Protocol):
    """What `CachingSource` calls on `lib.musicbrainz.client.MusicBrainzClient`: the cascade's
    needs plus artist lookups (for tags and genres)."""

    def artist(self, mbid: str, includes: Sequence[str] = ...) -> dict[str, Any] | None: ...


class CachingSource:
    """Cache-first MusicBrainz answers; `requests` counts the calls that reached the client."""

    def __init__(
        self, client: MusicBrainzClientLike, cache: MbCache, clock: Callable[[], datetime]
    ) -> None:
        self._client = client
        self._cache = cache
        self._clock = clock
        self._fresh_since: float | None = None
        self.requests = 0
        self.hits = 0

    @contextlib.contextmanager
    def fresh_since(self, moment: datetime | None) -> Iterator[None]:
        """Within the block, answers fetched before `moment` are asked again."""
        saved = self._fresh_since
        self._fresh_since = None if moment is None else epoch(moment)
        try:
            yield
        finally:
            self._fresh_since = saved

    def _cached(self, key: str, ask: Callable[[], Any]) -> Any:
        hit, answer = self._cache.response(key, self._fresh_since)
        if hit:
            self.hits += 1
            return answer
        self.requests += 1
        answer = ask()
        self._cache.put_response(key, answer, epoch(self._clock()))
        # What the cascade gets is what a later run will get from the cache: the JSON round trip.
        return json.loads(json.dumps(answer))

    # --- resolve.MusicBrainzSource ---------------------------------------------------------------

    def recordings_by_isrc(self, isrc: str) -> list[dict[str, Any]]:
        return self._cached(_key("isrc", isrc), lambda: self._client.recordings_by_isrc(isrc))

    def search_recordings(self, title: str, artist: str, limit: int = 10) -> list[dict]:
        return self._cached(
            _key("search recording", title, artist, limit),
            lambda: self._client.search_recordings(title, artist, limit),
        )

    def search_releases_by_barcode(self, barcode: str) -> list[dict[str, Any]]:
        return self._cached(
            _key("search release barcode", barcode),
            lambda: self._client.search_releases_by_barcode(barcode),
        )

    def search_releases(self, title: str, artist: str, limit: int = 10) -> list[dict]:
        return self._cached(
            _key("search release", title, artist, limit),
            lambda: self._client.search_releases(title, artist, limit),
        )

    def search_artists(self, name: str, limit: int = 10) -> list[dict[str, Any]]:
        return self._cached(
            _key("search artist", name, limit), lambda: self._client.search_artists(name, limit)
        )

    def release(self, mbid: str, includes: Sequence[str] = ()) -> dict[str, Any] | None:
        return self._cached(
            _key("release", mbid, *includes), lambda: self._client.release(mbid, includes)
        )

    # --- tags ---

    def artist(self, mbid: str, includes: Sequence[str] = ()) -> dict[str, Any] | None:
        return self._cached(
            _key("artist", mbid, *includes), lambda: self._client.artist(mbid, includes)
        )


def _key(*parts: object) -> str:
    # JSON keeps titles with tabs, quotes or any separator unambiguous.
    return json.dumps(parts, ensure_ascii=False)
