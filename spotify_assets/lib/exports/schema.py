"""The `play_observations` contract: one row per play row of an imported export file.

An observation is what one file says about one play, before any cross-source deduplication
(that is the `plays` table's job). Every row of a recognised file becomes either an observation
or a counted entry of the import report (malformed, duplicate in the file), never nothing.

Deliberately not kept: `ip_addr`, `ip_addr_decrypted`, `username`, `user_agent_decrypted`.
They are personal data (where the listener was, their account name, their device) that no table
needs; the raw landing zone keeps the file as received if that ever changes.
"""

from __future__ import annotations

from datetime import datetime
from typing import TypedDict

import pyarrow as pa

from spotify_assets.lib.lake import Column

TS_MS_UTC = pa.timestamp("ms", tz="UTC")
PLAY_THRESHOLD_MS = 30_000  # Spotify (and Wrapped) count a play from 30 s of listening.

OBSERVATION_COLUMNS: tuple[Column, ...] = (
    Column("user_id", pa.string(), "Our user id of the listener who imported the file.", False),
    Column(
        "source",
        pa.string(),
        "Which export the row came from: export_extended (Streaming_History_Audio/Video), "
        "export_endsong (legacy extended endsong_N.json), export_account (account-data "
        "StreamingHistory*.json).",
        False,
    ),
    Column(
        "content_type",
        pa.string(),
        "track | episode | audiobook | video | unknown (a row whose content fields are all "
        "null, seen in legacy files). Legacy StreamingHistoryN.json mixes podcasts in that "
        "cannot be told apart: they are 'track'.",
        False,
    ),
    Column(
        "ended_at",
        TS_MS_UTC,
        "When playback stopped (UTC): extended `ts` to the second, account-data `endTime` to "
        "the minute (see ts_precision). Start = ended_at - ms_played.",
        False,
    ),
    Column("ts_precision", pa.string(), "Precision of ended_at: 's' or 'min'.", False),
    Column("ms_played", pa.int64(), "Milliseconds actually played (>= 0).", False),
    Column(
        "track_uri",
        pa.string(),
        "spotify:track: + id, or spotify:local:... for a local file; null in account data.",
    ),
    Column("track_id", pa.string(), "The 22-char id from track_uri; null for local files."),
    Column("track_name", pa.string(), "Track title as Spotify exported it."),
    Column("artist_name", pa.string(), "Track's (album) artist name."),
    Column("album_name", pa.string(), "Album name (extended formats only)."),
    Column("episode_uri", pa.string(), "spotify:episode: + id (extended formats only)."),
    Column("episode_name", pa.string(), "Podcast episode title."),
    Column("show_name", pa.string(), "Podcast (show) name."),
    Column("audiobook_title", pa.string(), "Audiobook title."),
    Column("audiobook_uri", pa.string(), "spotify:audiobook: + id (extended format only)."),
    Column("chapter_title", pa.string(), "Audiobook chapter title."),
    Column("chapter_uri", pa.string(), "spotify:chapter: + id (extended format only)."),
    Column(
        "platform",
        pa.string(),
        "Client platform as exported ('android', 'windows', or legacy "
        "'Android OS 12 API 31 (...)'). Extended formats only.",
    ),
    Column("conn_country", pa.string(), "Country code of the connection at play time."),
    Column("shuffle", pa.bool_(), "Shuffle was on."),
    Column("skipped", pa.bool_(), "The user skipped to the next item (mostly null in endsong)."),
    Column("offline", pa.bool_(), "Played in offline mode."),
    Column(
        "offline_at",
        TS_MS_UTC,
        "`offline_timestamp` as an instant (about when playback started): current files give "
        "Unix seconds, legacy endsong files milliseconds, told apart by magnitude (>= 1e11 is "
        "ms); values < 100 are known junk and become null.",
    ),
    Column("incognito", pa.bool_(), "Played in a private session (`incognito_mode`)."),
    Column("reason_start", pa.string(), "Why playback started (trackdone, clickrow, ...)."),
    Column("reason_end", pa.string(), "Why playback ended (trackdone, endplay, fwdbtn, ...)."),
    Column(
        "file_sha256",
        pa.string(),
        "sha256 of the imported file's bytes: its key in the raw landing zone.",
        False,
    ),
    Column("file_row", pa.int64(), "0-based index of the row in the file's JSON array.", False),
    Column(
        "extra",
        pa.string(),
        "JSON object (sorted keys) of the row's keys this version does not map to a column, "
        "with their values (e.g. fields Spotify added later, account audiobook authorName); "
        "null when there are none.",
    ),
)

OBSERVATION_SCHEMA: pa.Schema = pa.schema(
    [pa.field(c.name, c.type, nullable=c.nullable) for c in OBSERVATION_COLUMNS]
)


class PlayObservation(TypedDict):
    """One row of `ParsedExport.observations.to_pylist()` (the columns above, in order)."""

    user_id: str
    source: str
    content_type: str
    ended_at: datetime
    ts_precision: str
    ms_played: int
    track_uri: str | None
    track_id: str | None
    track_name: str | None
    artist_name: str | None
    album_name: str | None
    episode_uri: str | None
    episode_name: str | None
    show_name: str | None
    audiobook_title: str | None
    audiobook_uri: str | None
    chapter_title: str | None
    chapter_uri: str | None
    platform: str | None
    conn_country: str | None
    shuffle: bool | None
    skipped: bool | None
    offline: bool | None
    offline_at: datetime | None
    incognito: bool | None
    reason_start: str | None
    reason_end: str | None
    file_sha256: str
    file_row: int
    extra: str | None
