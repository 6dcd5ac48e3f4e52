"""The world's public data model: `WorldConfig`, the Spotify and MusicBrainz entities, plays and
demo users, plus the constants they share (epoch, base62 alphabet, top-list windows and limit,
the 30 s counted-play threshold).

Everything here is frozen; the builders in the other modules of this package produce it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# Spotify's documented windows for /me/top: ~4 weeks, ~6 months, ~1 year.
TIME_RANGE_DAYS = {"short_term": 28, "medium_term": 182, "long_term": 365}
TOP_LIMIT = 50
# Spotify (and Wrapped) count a play as a stream from 30 s on.
COUNTED_MS = 30_000
DAY_MS = 86_400_000

AlbumType = Literal["album", "single", "compilation"]
PlayKind = Literal["track", "episode"]


# --------------------------------------------------------------------------------------------
# Public data model
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorldConfig:
    """Knobs of the synthetic world. `end=None` means "now, floored to the hour, UTC"."""

    seed: int = 42
    end: datetime | None = None
    days: int = 21
    n_artists: int = 120
    n_tracks: int = 1500
    export_end_offset_hours: int = 3
    # 0: the five demo users. N > 0: N generated bursty listeners instead (binges, offline
    # sessions synced hours later, night owls, week-long breaks), the polling benchmark's world.
    listeners: int = 0

    def resolved(self) -> WorldConfig:
        """A copy with `end` filled in (UTC, ms precision) and the sizes validated."""
        if self.end is None:
            end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        elif self.end.tzinfo is None:
            raise ValueError(f"WorldConfig.end must be timezone-aware, got naive {self.end}")
        else:
            end = self.end.astimezone(UTC)
            end = end.replace(microsecond=end.microsecond // 1000 * 1000)
        if self.days < 1:
            raise ValueError(f"WorldConfig.days must be >= 1, got {self.days}")
        if self.n_artists < 10:
            raise ValueError(f"WorldConfig.n_artists must be >= 10, got {self.n_artists}")
        if self.n_tracks < self.n_artists:
            raise ValueError(
                f"WorldConfig.n_tracks ({self.n_tracks}) must be >= n_artists ({self.n_artists})"
            )
        if self.export_end_offset_hours < 0:
            raise ValueError("WorldConfig.export_end_offset_hours must be >= 0")
        if not 0 <= self.listeners <= 1000:
            raise ValueError(f"WorldConfig.listeners must be 0..1000, got {self.listeners}")
        return dataclasses.replace(self, end=end)


@dataclass(frozen=True, slots=True)
class MbArtist:
    mbid: str
    name: str
    sort_name: str
    tags: tuple[tuple[str, int], ...]
    genres: tuple[tuple[str, int], ...]
    artist_type: str = "Group"  # MusicBrainz artist type: "Person" or "Group"
    country: str | None = None
    disambiguation: str = ""


@dataclass(frozen=True, slots=True)
class MbRecording:
    mbid: str
    title: str
    artist_mbids: tuple[str, ...]
    length_ms: int
    isrcs: tuple[str, ...]
    release_mbids: tuple[str, ...]
    disambiguation: str = ""


@dataclass(frozen=True, slots=True)
class MbRelease:
    mbid: str
    title: str
    release_group_mbid: str
    release_group_type: str  # "Album", "Single", "EP" or "Compilation" (legacy `type` attribute)
    barcode: str | None
    artist_mbids: tuple[str, ...]
    date: str
    # The release's tracklist in order (recordings that exist in MusicBrainz only).
    recording_mbids: tuple[str, ...] = ()
    release_group_title: str = ""
    country: str | None = None
    status: str = "Official"


@dataclass(frozen=True, slots=True)
class Artist:
    id: str
    name: str
    mb: MbArtist | None
    followers: int
    popularity: int
    genres: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Album:
    id: str
    name: str
    album_type: AlbumType
    release_date: str
    upc: str
    artist_ids: tuple[str, ...]
    track_ids: tuple[str, ...]
    popularity: int
    label: str
    mb: MbRelease | None
    # How much of `release_date` Spotify shows: "day", "month" ("2026-03") or "year" ("1987").
    # `release_date` itself is always the true day; the Web API shapes truncate it.
    release_date_precision: str = "day"

    @property
    def shown_release_date(self) -> str:
        """`release_date` as Spotify shows it at this album's precision."""
        return self.release_date[: {"year": 4, "month": 7}.get(self.release_date_precision, 10)]


@dataclass(frozen=True, slots=True)
class Track:
    id: str
    name: str
    artist_ids: tuple[str, ...]
    album_id: str
    duration_ms: int
    isrc: str
    track_number: int
    disc_number: int
    explicit: bool
    popularity: int
    mb: MbRecording | None


@dataclass(frozen=True, slots=True)
class Episode:
    id: str
    name: str
    show_id: str
    show_name: str
    duration_ms: int
    release_date: str = ""


@dataclass(frozen=True, slots=True)
class Play:
    user_id: str
    kind: PlayKind
    item_id: str
    ended_at: datetime
    ms_played: int
    platform: str
    shuffle: bool
    skipped: bool
    reason_start: str
    reason_end: str
    offline: bool
    incognito: bool
    conn_country: str
    context_uri: str | None
    ip_addr: str = "192.0.2.1"
    # When Spotify learns of the play: None = as it ends. A device offline during the play
    # reports it when it reconnects, hours later, with its real (past) ended_at.
    synced_at: datetime | None = None

    @property
    def started_at(self) -> datetime:
        return self.ended_at - timedelta(milliseconds=self.ms_played)

    @property
    def visible_at(self) -> datetime:
        """From when recently-played can list the play."""
        return self.synced_at if self.synced_at is not None else self.ended_at


@dataclass(frozen=True, slots=True)
class DemoUser:
    id: str
    display_name: str
    timezone: str
    habit: str
    followed_artist_ids: tuple[str, ...]
    country: str = "US"
    account_id: str = ""
