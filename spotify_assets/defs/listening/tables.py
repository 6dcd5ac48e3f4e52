"""Lake tables of the listening domain: their grain and explicit schemas."""

import pyarrow as pa

from spotify_assets.lib.exports.report import IMPORT_REPORT_COLUMNS
from spotify_assets.lib.exports.schema import OBSERVATION_COLUMNS
from spotify_assets.lib.lake import Column, TableSpec

TS = pa.timestamp("ms", tz="UTC")
STRINGS = pa.list_(pa.string())

POLLED_PLAYS = TableSpec(
    "polled_plays",
    "One row per play seen by polling /me/player/recently-played (tracks >= 30 s only). "
    "Partition: user and UTC day of played_at.",
    [
        Column("user_id", pa.string(), "Spotify user id", nullable=False),
        Column(
            "played_at", TS, "played_at from Spotify: when playback stopped (ms)", nullable=False
        ),
        Column("track_id", pa.string(), "Spotify track id (null for local files)"),
        Column("track_uri", pa.string(), "spotify:track:... or spotify:local:..."),
        Column("track_name", pa.string(), "track title"),
        Column("artist_names", STRINGS, "credited artists, primary first"),
        Column("artist_ids", STRINGS, "credited artist ids, primary first"),
        Column("album_id", pa.string(), "album id"),
        Column("album_name", pa.string(), "album title"),
        Column("album_type", pa.string(), "album, single or compilation"),
        Column("duration_ms", pa.int64(), "track length"),
        Column("isrc", pa.string(), "ISRC from external_ids"),
        Column("explicit", pa.bool_(), "explicit lyrics"),
        Column("context_type", pa.string(), "playlist, album, artist... (null: no context)"),
        Column("context_uri", pa.string(), "what it was played from"),
        Column("polled_at", TS, "when Spotify answered the poll (its Date header, to the second)"),
        Column(
            "late_synced",
            pa.bool_(),
            "first seen although it ended before the previous poll: Spotify got it late "
            "(an offline device); an `after` cursor would have skipped it (null: polled before "
            "this was recorded)",
        ),
        Column(
            "gap_before",
            pa.bool_(),
            "possible loss: the oldest of a page of 50 plays that were all new to us; plays "
            "just before it may never have been seen (null: polled before this was recorded)",
        ),
    ],
    sort_by=["user_id", "played_at", "track_id"],
)

PLAYS = TableSpec(
    "plays",
    "One row per play of a track (>= 30 s), deduplicated across polling and every export "
    "format (rule: spotify_assets/lib/dedupe.py). Partition: UTC day of started_at.",
    [
        Column("user_id", pa.string(), "Spotify user id", nullable=False),
        Column("play_id", pa.string(), "stable id of the play", nullable=False),
        Column("day", pa.date32(), "UTC day of started_at (the partition)", nullable=False),
        Column("started_at", TS, "playback start = ended_at - listened_ms", nullable=False),
        Column("ended_at", TS, "playback stop", nullable=False),
        Column(
            "ended_at_precision",
            pa.string(),
            "ms (poll), s (extended export), min (account-data export)",
        ),
        Column("ms_played", pa.int64(), "exact time played, from an export; null if polled only"),
        Column(
            "listened_ms", pa.int64(), "ms_played, or the estimate when unknown", nullable=False
        ),
        Column("listened_ms_estimated", pa.bool_(), "true when listened_ms is an estimate"),
        Column(
            "track_id",
            pa.string(),
            "Spotify track id (null: account-data rows never "
            "matched to a polled play, local files)",
        ),
        Column(
            "track_key",
            pa.string(),
            "normalised artist and title joined by a tab: groups rows without id",
            nullable=False,
        ),
        Column("track_name", pa.string(), "track title"),
        Column("artist_name", pa.string(), "primary artist"),
        Column("artist_ids", STRINGS, "credited artist ids when known (from polling)"),
        Column("album_id", pa.string(), "album id when known"),
        Column("album_name", pa.string(), "album title"),
        Column("duration_ms", pa.int64(), "track length when known"),
        Column("isrc", pa.string(), "ISRC when known"),
        Column(
            "sources",
            STRINGS,
            "every source that saw this play: poll, export_extended, "
            "export_endsong, export_account",
        ),
        Column("platform", pa.string(), "device platform (exports)"),
        Column("conn_country", pa.string(), "country of the connection (exports)"),
        Column("shuffle", pa.bool_(), "shuffle on (exports)"),
        Column("skipped", pa.bool_(), "skipped to the next track (exports)"),
        Column("reason_start", pa.string(), "why it started (exports)"),
        Column("reason_end", pa.string(), "why it ended (exports)"),
        Column("offline", pa.bool_(), "played offline (exports)"),
        Column("incognito", pa.bool_(), "private session (exports)"),
        Column("context_uri", pa.string(), "playlist/album it was played from (poll)"),
    ],
    sort_by=["user_id", "started_at", "play_id"],
    example="""
-- Minutes per month and source mix, for every listener
select user_id, date_trunc('month', started_at) as month,
       round(sum(listened_ms) / 60000) as minutes, count(*) as plays,
       count(*) filter (where list_contains(sources, 'poll')) as polled
from listening.plays
group by all
order by month desc, user_id;
""",
)

DAILY_LISTENING = TableSpec(
    "daily_listening",
    "One row per user per local day (the user's timezone) with listening: minutes, plays, "
    "distinct tracks and artists, top track and artist. Partition: the local date.",
    [
        Column("user_id", pa.string(), "Spotify user id", nullable=False),
        Column("date", pa.date32(), "local calendar day", nullable=False),
        Column("timezone", pa.string(), "IANA timezone the day is in", nullable=False),
        Column(
            "minutes",
            pa.float64(),
            "sum of listened_ms / 60000 of plays started that day",
            nullable=False,
        ),
        Column(
            "estimated_minutes",
            pa.float64(),
            "part of minutes that is estimated (polled-only plays)",
            nullable=False,
        ),
        Column("plays", pa.int64(), "plays (>= 30 s) started that day", nullable=False),
        Column("distinct_tracks", pa.int64(), "distinct tracks", nullable=False),
        Column("distinct_artists", pa.int64(), "distinct primary artists", nullable=False),
        Column("top_track_key", pa.string(), "most played track (plays, then minutes)"),
        Column("top_track_id", pa.string(), "its Spotify id when known"),
        Column("top_track_name", pa.string(), "its title"),
        Column("top_track_artist", pa.string(), "its primary artist"),
        Column("top_track_plays", pa.int64(), "its plays that day"),
        Column("top_artist_name", pa.string(), "most played primary artist"),
        Column("top_artist_plays", pa.int64(), "its plays that day"),
        Column("first_play_at", TS, "first play start"),
        Column("last_play_at", TS, "last play stop"),
    ],
    sort_by=["date", "user_id"],
    example="""
-- One listener's last week, day by day
select date, round(minutes) as minutes, plays, top_track_name, top_artist_name
from listening.daily_listening
where user_id = (select min(user_id) from listening.daily_listening)
order by date desc
limit 7;
""",
)

LISTENING_SESSIONS = TableSpec(
    "listening_sessions",
    "One row per listening session: plays with gaps of at most 10 minutes between one's stop "
    "and the next one's start. Partition: UTC day the session started.",
    [
        Column("user_id", pa.string(), "Spotify user id", nullable=False),
        Column("session_id", pa.string(), "user + first play id", nullable=False),
        Column("day", pa.date32(), "UTC day of the session start", nullable=False),
        Column("started_at", TS, "first play start", nullable=False),
        Column("ended_at", TS, "last play stop", nullable=False),
        Column("plays", pa.int64(), "plays in the session", nullable=False),
        Column("listened_minutes", pa.float64(), "sum of listened_ms / 60000", nullable=False),
        Column("distinct_tracks", pa.int64(), "distinct tracks", nullable=False),
        Column("top_artist_name", pa.string(), "most played primary artist"),
    ],
    sort_by=["user_id", "started_at"],
    example="""
-- Each listener's longest sessions
select user_id, started_at, round(listened_minutes) as minutes, plays
from listening.listening_sessions
qualify row_number() over (partition by user_id order by listened_minutes desc) <= 3
order by user_id, minutes desc;
""",
)

LISTENING_COVERAGE = TableSpec(
    "listening_coverage",
    "One row per user per UTC day: how many plays each source saw, so a user can see what "
    "polling missed (export_only) and what exports have not covered yet (poll_only), and how "
    "many polling caught late or after a possible gap.",
    [
        Column("user_id", pa.string(), "Spotify user id", nullable=False),
        Column("day", pa.date32(), "UTC day (play start)", nullable=False),
        Column("plays", pa.int64(), "plays in `plays`", nullable=False),
        Column("seen_by_poll", pa.int64(), "plays polling saw", nullable=False),
        Column("seen_by_export", pa.int64(), "plays an export holds", nullable=False),
        Column("poll_only", pa.int64(), "plays no export holds (yet)", nullable=False),
        Column("export_only", pa.int64(), "plays polling missed", nullable=False),
        Column(
            "late_synced",
            pa.int64(),
            "plays polling caught although Spotify got them late (an offline device): an "
            "`after` cursor would have missed them (null: a day counted before this existed)",
        ),
        Column(
            "possible_gaps",
            pa.int64(),
            "polls of this day whose 50 plays were all new: plays just before the oldest may "
            "be missing (an export fills them in; null: counted before this existed)",
        ),
    ],
    sort_by=["day", "user_id"],
)

LISTENING_HEATMAP = TableSpec(
    "listening_heatmap",
    "One row per user, local ISO weekday (1 = Monday) and local hour with any listening: "
    "plays and minutes over all history.",
    [
        Column("user_id", pa.string(), "Spotify user id", nullable=False),
        Column(
            "weekday", pa.int8(), "ISO weekday in the user's timezone, 1 = Monday", nullable=False
        ),
        Column("hour", pa.int8(), "hour of day in the user's timezone", nullable=False),
        Column("plays", pa.int64(), "plays started in that slot", nullable=False),
        Column("minutes", pa.float64(), "listened minutes of those plays", nullable=False),
    ],
    sort_by=["user_id", "weekday", "hour"],
    partitioned=False,
)

EXPORTED_PLAYS = TableSpec(
    "exported_plays",
    "One row per row of an imported privacy export (every content type and length; "
    "malformed rows are in import_rejects). Partition: user and file (its sha256).",
    OBSERVATION_COLUMNS,
    sort_by=["user_id", "ended_at", "file_sha256", "file_row"],
)

EPISODE_PLAYS = TableSpec(
    "episode_plays",
    "One row per play of a podcast episode, audiobook chapter or video, from exports. "
    "Partition: UTC day of started_at.",
    [
        Column("user_id", pa.string(), "Spotify user id", nullable=False),
        Column("day", pa.date32(), "UTC day of started_at (the partition)", nullable=False),
        Column("content_type", pa.string(), "episode, audiobook or video", nullable=False),
        Column("started_at", TS, "ended_at - ms_played", nullable=False),
        Column("ended_at", TS, "playback stop", nullable=False),
        Column("ms_played", pa.int64(), "time played", nullable=False),
        Column("show_name", pa.string(), "podcast"),
        Column("episode_name", pa.string(), "episode title"),
        Column("episode_uri", pa.string(), "spotify:episode:..."),
        Column("audiobook_title", pa.string(), "audiobook"),
        Column("chapter_title", pa.string(), "chapter"),
        Column("chapter_uri", pa.string(), "spotify:chapter:..."),
        Column("platform", pa.string(), "device platform"),
        Column("source", pa.string(), "export format"),
    ],
    sort_by=["user_id", "started_at", "content_type"],
)

IMPORT_REPORTS = TableSpec(
    "import_reports",
    "One row per imported export file: rows read and what happened to each (kept by content "
    "type, duplicate, malformed); the categories sum exactly to rows_read. "
    "Partition: user and file (its sha256).",
    [*IMPORT_REPORT_COLUMNS, Column("imported_at", TS, "when the import published", False)],
    sort_by=["user_id", "file_sha256"],
)

IMPORT_REJECTS = TableSpec(
    "import_rejects",
    "One row per export row that cannot be a play (malformed), kept verbatim with the reason, "
    "so an import never loses a row silently.",
    [
        Column("user_id", pa.string(), "importing user", nullable=False),
        Column("file_sha256", pa.string(), "the file's sha256", nullable=False),
        Column("file_name", pa.string(), "the file's name", nullable=False),
        Column("file_row", pa.int64(), "0-based index in the file's array", nullable=False),
        Column("reason", pa.string(), "why it is not a play", nullable=False),
        Column("raw_json", pa.string(), "the row as it was in the file", nullable=False),
    ],
    sort_by=["user_id", "file_sha256", "file_row"],
)

SPOTIFY_TRACKS = TableSpec(
    "spotify_tracks",
    "One row per track plays refer to: by track id (every id in plays, polled plays and top "
    "lists), or by name for plays without an id (account-data exports), with its artists, album "
    "and ISRC, from the lake where it can (polls, tops, fetched albums) and otherwise from the "
    "fewest Spotify requests, each asked once (see spotify_assets/lib/spotify/tracks.py).",
    [
        Column(
            "ref_kind",
            pa.string(),
            "how plays reach this row: 'id' (plays.track_id) or 'name' (plays.track_key of "
            "plays without a track id)",
            nullable=False,
        ),
        Column(
            "track_key",
            pa.string(),
            "name rows: the plays' track_key (normalised artist and title, tab-separated)",
        ),
        Column(
            "track_id",
            pa.string(),
            "Spotify track id (name rows: the one track a search found; null when none or "
            "several matched)",
        ),
        Column("track_name", pa.string(), "track title"),
        Column("artist_ids", STRINGS, "credited artist ids, primary first (null: not known)"),
        Column("artist_names", STRINGS, "their names, same order"),
        Column("album_id", pa.string(), "Spotify album id"),
        Column("album_name", pa.string(), "album title"),
        Column("isrc", pa.string(), "ISRC, when the source carried it"),
        Column("duration_ms", pa.int64(), "track length"),
        Column(
            "resolved_by",
            pa.string(),
            "where the facts come from: poll, top, album (a fetched album that lists it and "
            "credits one artist), lookup (GET /tracks/{id}), album_lookup (GET /albums/{id}), "
            "search (one exact match); or ambiguous (several tracks of that title and artist: "
            "only what they share is kept), unresolved (no match), not_found (404), pending "
            "(not asked yet)",
            nullable=False,
        ),
        Column("candidates", pa.int32(), "name rows: distinct tracks the search matched"),
        Column("plays", pa.int64(), "plays that refer to this row", nullable=False),
        Column("checked_at", TS, "when Spotify was asked (null: known without a request)"),
        Column("retry_after", TS, "ambiguous, unresolved, not_found: asked again after this"),
    ],
    sort_by=["ref_kind", "track_id", "track_key"],
    partitioned=False,
)
