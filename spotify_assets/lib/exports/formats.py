"""Spotify privacy-export formats: their key sets, and detection from content.

A file's format is decided by the keys of its first array element, never by its name alone:
users rename files, and Spotify has changed names (`endsong_N.json` became
`Streaming_History_Audio_*.json`) while keeping the keys. The name is consulted only where the
content cannot tell two formats apart:

- `account_legacy`: the old `StreamingHistoryN.json` has exactly the keys of
  `StreamingHistory_music_N.json`, with podcast rows mixed in that look like music rows.
- `video`: `Streaming_History_Video_*.json` uses the extended key set (no real sample has been
  seen; if video rows ever carry keys with "video" in their name, those also mark the format).

Each format maps JSON keys to `play_observations` columns (see `schema.py`) with a value kind
that the row normaliser validates. Keys not in a format's family are "unknown": kept in the
row's `extra` JSON and listed in the import report, because Spotify adds fields over time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import PurePosixPath

from spotify_assets.lib.exports.errors import UnrecognizedExportError


class ExportFormat(StrEnum):
    EXTENDED = "extended"
    ENDSONG = "endsong"
    VIDEO = "video"
    ACCOUNT_MUSIC = "account_music"
    ACCOUNT_PODCAST = "account_podcast"
    ACCOUNT_AUDIOBOOK = "account_audiobook"
    ACCOUNT_LEGACY = "account_legacy"
    # An empty array: a valid file with no rows, whose format cannot be told.
    EMPTY = "empty"


class Kind(StrEnum):
    """How a JSON value is validated and converted."""

    STR = "str"  # string or null
    BOOL = "bool"  # boolean or null
    TS_SECOND = "ts_second"  # required "YYYY-MM-DDTHH:MM:SSZ" (UTC)
    TS_MINUTE = "ts_minute"  # required "YYYY-MM-DD HH:MM" (UTC)
    MS = "ms"  # required integer >= 0
    EPOCH = "epoch"  # integer or null: Unix seconds, or milliseconds in legacy files
    DROP = "drop"  # known, deliberately not kept (PII), not validated
    EXTRA = "extra"  # known, no column of its own: kept in `extra`, not reported unknown


@dataclass(frozen=True)
class Field:
    key: str
    column: str | None
    kind: Kind


@dataclass(frozen=True)
class FormatSpec:
    format: ExportFormat
    source: str  # play_observations.source
    ts_precision: str  # "s" or "min"
    fields: tuple[Field, ...]
    # Content type of rows with any content field set; None = decided per row (extended family).
    content_type: str | None

    @property
    def known_keys(self) -> frozenset[str]:
        return frozenset(f.key for f in self.fields)

    @property
    def read_fields(self) -> tuple[Field, ...]:
        """Fields whose values the normaliser reads (everything but the dropped PII)."""
        return tuple(f for f in self.fields if f.kind not in (Kind.DROP, Kind.EXTRA))

    @property
    def extra_keys(self) -> frozenset[str]:
        return frozenset(f.key for f in self.fields if f.kind is Kind.EXTRA)


S, B = Kind.STR, Kind.BOOL

# One family for the current extended format and legacy endsong: the union of their keys, so an
# endsong file that grew audiobook keys (or an extended file with `username`) loses nothing.
_EXTENDED_FAMILY: tuple[Field, ...] = (
    Field("ts", "ended_at", Kind.TS_SECOND),
    Field("ms_played", "ms_played", Kind.MS),
    Field("platform", "platform", S),
    Field("conn_country", "conn_country", S),
    Field("master_metadata_track_name", "track_name", S),
    Field("master_metadata_album_artist_name", "artist_name", S),
    Field("master_metadata_album_album_name", "album_name", S),
    Field("spotify_track_uri", "track_uri", S),
    Field("episode_name", "episode_name", S),
    Field("episode_show_name", "show_name", S),
    Field("spotify_episode_uri", "episode_uri", S),
    Field("audiobook_title", "audiobook_title", S),
    Field("audiobook_uri", "audiobook_uri", S),
    Field("audiobook_chapter_uri", "chapter_uri", S),
    Field("audiobook_chapter_title", "chapter_title", S),
    Field("reason_start", "reason_start", S),
    Field("reason_end", "reason_end", S),
    Field("shuffle", "shuffle", B),
    Field("skipped", "skipped", B),
    Field("offline", "offline", B),
    Field("offline_timestamp", "offline_at", Kind.EPOCH),
    Field("incognito_mode", "incognito", B),
)

# PII we have no use for: the play's IP address, account name and device user agent. Known to
# every format, so they never reach `extra`, and scrubbed from malformed rows kept aside.
PII_KEYS = frozenset({"ip_addr", "ip_addr_decrypted", "username", "user_agent_decrypted"})
_PII: tuple[Field, ...] = tuple(Field(k, None, Kind.DROP) for k in sorted(PII_KEYS))
_EXTENDED_FAMILY += _PII

_ACCOUNT_MUSIC: tuple[Field, ...] = (
    Field("endTime", "ended_at", Kind.TS_MINUTE),
    Field("msPlayed", "ms_played", Kind.MS),
    Field("artistName", "artist_name", S),
    Field("trackName", "track_name", S),
    *_PII,
)
_ACCOUNT_PODCAST: tuple[Field, ...] = (
    Field("endTime", "ended_at", Kind.TS_MINUTE),
    Field("msPlayed", "ms_played", Kind.MS),
    Field("podcastName", "show_name", S),
    Field("episodeName", "episode_name", S),
    *_PII,
)
_ACCOUNT_AUDIOBOOK: tuple[Field, ...] = (
    Field("endTime", "ended_at", Kind.TS_MINUTE),
    Field("msPlayed", "ms_played", Kind.MS),
    Field("audiobookName", "audiobook_title", S),
    Field("chapterName", "chapter_title", S),
    # No play_observations column for the author; kept in `extra` so it is not lost.
    Field("authorName", None, Kind.EXTRA),
    *_PII,
)

SPECS: dict[ExportFormat, FormatSpec] = {
    ExportFormat.EXTENDED: FormatSpec(
        ExportFormat.EXTENDED, "export_extended", "s", _EXTENDED_FAMILY, None
    ),
    ExportFormat.ENDSONG: FormatSpec(
        ExportFormat.ENDSONG, "export_endsong", "s", _EXTENDED_FAMILY, None
    ),
    ExportFormat.VIDEO: FormatSpec(
        ExportFormat.VIDEO, "export_extended", "s", _EXTENDED_FAMILY, "video"
    ),
    ExportFormat.ACCOUNT_MUSIC: FormatSpec(
        ExportFormat.ACCOUNT_MUSIC, "export_account", "min", _ACCOUNT_MUSIC, "track"
    ),
    ExportFormat.ACCOUNT_LEGACY: FormatSpec(
        ExportFormat.ACCOUNT_LEGACY, "export_account", "min", _ACCOUNT_MUSIC, "track"
    ),
    ExportFormat.ACCOUNT_PODCAST: FormatSpec(
        ExportFormat.ACCOUNT_PODCAST, "export_account", "min", _ACCOUNT_PODCAST, "episode"
    ),
    ExportFormat.ACCOUNT_AUDIOBOOK: FormatSpec(
        ExportFormat.ACCOUNT_AUDIOBOOK, "export_account", "min", _ACCOUNT_AUDIOBOOK, "audiobook"
    ),
}

# Content fields per family: a row with all of these null has no content ("unknown").
CONTENT_COLUMNS: tuple[str, ...] = (
    "track_name",
    "artist_name",
    "album_name",
    "track_uri",
    "episode_name",
    "show_name",
    "episode_uri",
    "audiobook_title",
    "audiobook_uri",
    "chapter_title",
    "chapter_uri",
)

_ENDSONG_MARKERS = frozenset({"username", "ip_addr_decrypted", "user_agent_decrypted"})
_CURRENT_MARKERS = frozenset(
    {
        "ip_addr",
        "audiobook_title",
        "audiobook_uri",
        "audiobook_chapter_uri",
        "audiobook_chapter_title",
    }
)
_EXTENDED_CONTENT = frozenset(
    {"master_metadata_track_name", "spotify_track_uri", "episode_name", "spotify_episode_uri"}
)

_LEGACY_NAME = re.compile(r"^StreamingHistory\d+\.json$", re.IGNORECASE)
_VIDEO_NAME = re.compile(r"^Streaming_History_Video_.*\.json$", re.IGNORECASE)
_HISTORY_NAMES = (
    re.compile(r"^StreamingHistory(_(music|podcast|audiobook))?_?\d*\.json$", re.IGNORECASE),
    re.compile(r"^Streaming_History_(Audio|Video)_.*\.json$", re.IGNORECASE),
    re.compile(r"^endsong(_\d+)?\.json$", re.IGNORECASE),
)


def base_name(name: str) -> str:
    return PurePosixPath(name.replace("\\", "/")).name


def is_history_file_name(name: str) -> bool:
    """True for the names Spotify gives streaming-history files (inside its zip)."""
    return any(p.match(base_name(name)) for p in _HISTORY_NAMES)


def detect_format(file_name: str, first: object) -> ExportFormat:
    """The format of a file from its first array element (`first`), using the name only as a
    tie-breaker where the keys are identical (legacy account data, video)."""
    if not isinstance(first, dict):
        raise UnrecognizedExportError(
            file_name, [], f"first array element is a {type(first).__name__}, not an object"
        )
    keys = frozenset(first)
    if {"ts", "ms_played"} <= keys and keys & _EXTENDED_CONTENT:
        return _extended_flavour(file_name, keys)
    if {"endTime", "msPlayed"} <= keys:
        flavour = _account_flavour(file_name, keys)
        if flavour is not None:
            return flavour
    raise UnrecognizedExportError(file_name, keys, "key set matches no known format")


def _extended_flavour(file_name: str, keys: frozenset[str]) -> ExportFormat:
    if _VIDEO_NAME.match(base_name(file_name)) or any("video" in k for k in keys):
        return ExportFormat.VIDEO
    if keys & _ENDSONG_MARKERS and not keys & _CURRENT_MARKERS:
        return ExportFormat.ENDSONG
    return ExportFormat.EXTENDED


def _account_flavour(file_name: str, keys: frozenset[str]) -> ExportFormat | None:
    scores = {
        ExportFormat.ACCOUNT_MUSIC: len(keys & {"artistName", "trackName"}),
        ExportFormat.ACCOUNT_PODCAST: len(keys & {"podcastName", "episodeName"}),
        ExportFormat.ACCOUNT_AUDIOBOOK: len(keys & {"audiobookName", "chapterName"}),
    }
    best = max(scores, key=lambda f: scores[f])
    if scores[best] == 0:
        return None
    if best is ExportFormat.ACCOUNT_MUSIC and _LEGACY_NAME.match(base_name(file_name)):
        return ExportFormat.ACCOUNT_LEGACY
    return best
