"""Lake tables of the wrapped domain: a month's and a year's listening per user, their tops, the
Spotify top lists captured when a month ended, and the opt-in playlists."""

import pyarrow as pa

from spotify_assets.lib.lake import Column, TableSpec

TS = pa.timestamp("ms", tz="UTC")
STRINGS = pa.list_(pa.string())
DOUBLES = pa.list_(pa.float64())
USER = Column("user_id", pa.string(), "Spotify user id", nullable=False)
MONTH = Column("month", pa.date32(), "first day of the user's local calendar month", False)
YEAR = Column("year", pa.int32(), "the user's local calendar year", nullable=False)


def _summary_columns() -> list[Column]:
    """What a month and a year share: every number is from `plays` (>= 30 s) in the user's
    local calendar period; a play counts on the local day it started."""
    return [
        Column("timezone", pa.string(), "IANA timezone the period is cut in", nullable=False),
        Column("minutes", pa.float64(), "sum of listened_ms / 60000", nullable=False),
        Column("estimated_minutes", pa.float64(), "part of minutes estimated (polled only)", False),
        Column("plays", pa.int64(), "plays (>= 30 s)", nullable=False),
        Column("distinct_tracks", pa.int64(), "distinct recordings (see defs/tops README)", False),
        Column("distinct_artists", pa.int64(), "distinct primary artists", nullable=False),
        Column("distinct_albums", pa.int64(), "distinct albums", nullable=False),
        Column(
            "new_artists",
            pa.int64(),
            "primary artists heard for the first time ever (in all of the user's history)",
            nullable=False,
        ),
        Column("days_listened", pa.int64(), "local days with at least one play", nullable=False),
        Column("peak_day", pa.date32(), "the local day with the most minutes (earliest on ties)"),
        Column("peak_day_minutes", pa.float64(), "its minutes"),
        Column("longest_streak_days", pa.int64(), "most consecutive local days with plays", False),
        Column("longest_streak_start", pa.date32(), "first day of that streak (earliest on ties)"),
        Column("top_track_key", pa.string(), "the #1 recording by minutes"),
        Column("top_track_id", pa.string(), "its most played Spotify track id"),
        Column("top_track_name", pa.string(), "its title"),
        Column("top_track_artist", pa.string(), "its primary artist"),
        Column("top_track_plays", pa.int64(), "its plays in the period"),
        Column("top_artist_name", pa.string(), "the #1 primary artist by minutes"),
        Column(
            "skipped_share",
            pa.float64(),
            "skipped plays / plays whose source says whether they were skipped (exports); "
            "null when none says",
        ),
        Column("skip_known_plays", pa.int64(), "plays whose source says (the denominator)", False),
        Column("shuffle_share", pa.float64(), "shuffled plays / plays whose source says"),
        Column("shuffle_known_plays", pa.int64(), "plays whose source says", nullable=False),
        Column("minutes_by_hour", DOUBLES, "24 values: minutes started in each local hour", False),
        Column("minutes_by_day", DOUBLES, "one value per local day of the period, in order", False),
        Column("minutes_by_month", DOUBLES, "one value per month of the period, in order", False),
        Column("first_play_at", TS, "first play start in the period", nullable=False),
        Column("last_play_at", TS, "last play stop in the period", nullable=False),
        Column(
            "captured_status",
            pa.string(),
            "Spotify's top lists for the period: captured (monthly_wrapped_captured has them), "
            "before_enrollment (the period ended before the user enrolled: none, on purpose) "
            "or not_captured (no capture run reached this user)",
            nullable=False,
        ),
        Column("captured_at", TS, "when they were captured"),
    ]


def _tops_columns() -> list[Column]:
    return [
        Column(
            "entity",
            pa.string(),
            "track (a recording), artist, album, genre, or new_artist (first heard ever)",
            nullable=False,
        ),
        Column("rank", pa.int32(), "1..50 by minutes, then plays, then name", nullable=False),
        Column(
            "entity_key",
            pa.string(),
            "recording key (isrc:, mbid: or name:), normalised artist, normalised "
            "artist and album joined by a tab, or genre",
            nullable=False,
        ),
        Column("spotify_id", pa.string(), "a track's most played id; an artist's or album's id"),
        Column("name", pa.string(), "title, artist, album or genre"),
        Column("artist_name", pa.string(), "primary artist of a track or album"),
        Column("plays", pa.int64(), "plays in the period", nullable=False),
        Column("minutes", pa.float64(), "listened minutes in the period", nullable=False),
    ]


MONTHLY_WRAPPED = TableSpec(
    "monthly_wrapped",
    "One row per user and local calendar month with plays: minutes, plays, distinct tracks "
    "(recordings), artists and albums, artists new ever, peak day, longest streak, the top "
    "track's plays, skip and shuffle shares, minutes by hour and day, and whether Spotify's "
    "top lists were captured. Partition: month (YYYY-MM-01); kept forever.",
    [USER, MONTH, *_summary_columns()],
    sort_by=["month", "user_id"],
    example="""
-- A listener's months side by side
select month, round(minutes) as minutes, plays, distinct_artists, new_artists,
       top_track_name, top_artist_name, longest_streak_days
from wrapped.monthly_wrapped
where user_id = (select min(user_id) from wrapped.monthly_wrapped)
order by month desc;
""",
)

MONTHLY_WRAPPED_TOPS = TableSpec(
    "monthly_wrapped_tops",
    "One row per user, local month, entity (track, artist, album, genre, new_artist) and rank: "
    "the month's top 50 by minutes. Partition: month (YYYY-MM-01).",
    [USER, MONTH, *_tops_columns()],
    sort_by=["month", "user_id", "entity", "rank"],
)

MONTHLY_WRAPPED_CAPTURED = TableSpec(
    "monthly_wrapped_captured",
    "One row per item of a user's Spotify top lists (tracks and artists x short, medium, long "
    "term, up to 50 each) as they were when the month ended: written once per user and month, "
    "never rewritten. Partition: month and user handle.",
    [
        USER,
        MONTH,
        Column("kind", pa.string(), "tracks or artists", nullable=False),
        Column("time_range", pa.string(), "short_term, medium_term or long_term", False),
        Column("rank", pa.int32(), "1-based position in Spotify's list", nullable=False),
        Column("spotify_id", pa.string(), "Spotify track or artist id", nullable=False),
        Column("name", pa.string(), "title or artist name"),
        Column("artist_names", STRINGS, "a track's credited artists, primary first"),
        Column("album_name", pa.string(), "a track's album"),
        Column("isrc", pa.string(), "a track's ISRC"),
        Column("captured_at", TS, "when Spotify was asked", nullable=False),
    ],
    sort_by=["user_id", "kind", "time_range", "rank"],
)

MONTHLY_WRAPPED_PLAYLISTS = TableSpec(
    "monthly_wrapped_playlists",
    "One row per opted-in user and month: their private playlist of the month's top tracks "
    "(one per user and month), the tracks it holds and its state. "
    "Partition: month and user handle.",
    [
        MONTH,
        USER,
        Column(
            "status",
            pa.string(),
            "creating, partial, synced, deleted_by_user (never recreated that month) or empty "
            "(no track to put in it)",
            nullable=False,
        ),
        Column("playlist_id", pa.string(), "Spotify playlist id (null until created)"),
        Column("name", pa.string(), "playlist name"),
        Column("track_uris", STRINGS, "the tracks it holds, in order (fixed when created)"),
        Column("snapshot_id", pa.string(), "Spotify snapshot after the last change"),
        Column("updated_at", TS, "last change of this row", nullable=False),
    ],
    sort_by=["month", "user_id"],
)

YEARLY_WRAPPED = TableSpec(
    "yearly_wrapped",
    "One row per user and local calendar year with plays: the monthly wrapped's numbers for the "
    "year, minutes per month, and whether December's capture has Spotify's lists. "
    "Partition: year; kept forever.",
    [USER, YEAR, *_summary_columns()],
    sort_by=["year", "user_id"],
)

YEARLY_WRAPPED_TOPS = TableSpec(
    "yearly_wrapped_tops",
    "One row per user, local year, period (year, Q1..Q4, or a month 01..12), entity and rank: "
    "the top 50 of the year, of each quarter (how taste moved) and of each month (the months' "
    "top tracks side by side). Partition: year.",
    [
        USER,
        YEAR,
        Column("period", pa.string(), "year, Q1..Q4, or 01..12", nullable=False),
        Column("period_start", pa.date32(), "first local day of the period", nullable=False),
        Column("period_end", pa.date32(), "local day after the period", nullable=False),
        *_tops_columns(),
    ],
    sort_by=["year", "user_id", "period", "entity", "rank"],
)
