"""Lake tables of the tops domain: Spotify's top-item snapshots, their rank movement, albums
derived from top tracks, and tops computed from our own plays."""

import pyarrow as pa

from spotify_assets.lib.lake import Column, TableSpec

TS = pa.timestamp("ms", tz="UTC")
STRINGS = pa.list_(pa.string())

TIME_RANGES = ("short_term", "medium_term", "long_term")


def _snapshot_key(item: str) -> list[Column]:
    return [
        Column("user_id", pa.string(), "Spotify user id", nullable=False),
        Column("snapshot_date", pa.date32(), "UTC date of the snapshot (the partition)", False),
        Column(
            "time_range",
            pa.string(),
            "Spotify's window: short_term (~4 weeks), medium_term (~6 months), long_term (~1 year)",
            nullable=False,
        ),
        Column("rank", pa.int32(), f"1-based position of the {item} in Spotify's list", False),
    ]


TOP_TRACKS = TableSpec(
    "top_tracks",
    "One row per track in a user's Spotify top tracks (/me/top/tracks, up to 50) per time range "
    "and snapshot day; every snapshot is kept. Partition: snapshot day and user.",
    [
        *_snapshot_key("track"),
        Column("track_id", pa.string(), "Spotify track id", nullable=False),
        Column("track_name", pa.string(), "track title"),
        Column("artist_ids", STRINGS, "credited artist ids, primary first"),
        Column("artist_names", STRINGS, "credited artists, primary first"),
        Column("album_id", pa.string(), "album id"),
        Column("album_name", pa.string(), "album title"),
        Column("album_type", pa.string(), "album, single or compilation (lower case)"),
        Column("album_total_tracks", pa.int32(), "tracks on the album"),
        Column("album_release_date", pa.string(), "album release date as Spotify gives it"),
        Column("album_artist_names", STRINGS, "the album's artists"),
        Column("duration_ms", pa.int64(), "track length"),
        Column("explicit", pa.bool_(), "explicit lyrics"),
        Column("isrc", pa.string(), "ISRC from external_ids"),
        Column(
            "popularity",
            pa.int32(),
            "0-100; null for development-mode apps (Spotify removed it in 2026)",
        ),
        Column("fetched_at", TS, "when the list was read from Spotify", nullable=False),
    ],
    sort_by=["user_id", "time_range", "rank"],
    example="""
-- How a track moved through one listener's short-term top 10 over the snapshots
select snapshot_date, rank, track_name, artist_names[1] as artist
from tops.top_tracks
where time_range = 'short_term' and rank <= 10
  and user_id = (select min(user_id) from tops.top_tracks)
order by snapshot_date desc, rank;
""",
)

TOP_ARTISTS = TableSpec(
    "top_artists",
    "One row per artist in a user's Spotify top artists (/me/top/artists, up to 50) per time "
    "range and snapshot day; every snapshot is kept. "
    "Partition: snapshot day and user.",
    [
        *_snapshot_key("artist"),
        Column("artist_id", pa.string(), "Spotify artist id", nullable=False),
        Column("artist_name", pa.string(), "artist name"),
        Column("genres", STRINGS, "Spotify genres; null for development-mode apps"),
        Column("popularity", pa.int32(), "0-100; null for development-mode apps"),
        Column("followers", pa.int64(), "follower count; null for development-mode apps"),
        Column("fetched_at", TS, "when the list was read from Spotify", nullable=False),
    ],
    sort_by=["user_id", "time_range", "rank"],
)


def _movement_columns(item: str) -> list[Column]:
    return [
        Column("user_id", pa.string(), "Spotify user id", nullable=False),
        Column("snapshot_date", pa.date32(), "the snapshot compared (the partition)", False),
        Column("time_range", pa.string(), "short_term, medium_term or long_term", False),
        Column(f"{item}_id", pa.string(), f"Spotify {item} id", nullable=False),
        Column(f"{item}_name", pa.string(), f"{item} name"),
        Column("rank", pa.int32(), "rank in this snapshot; null when it dropped out"),
        Column(
            "previous_snapshot_date",
            pa.date32(),
            "the user's latest earlier snapshot of this range; null for the first one",
        ),
        Column("previous_rank", pa.int32(), "rank in the previous snapshot; null when new"),
        Column(
            "movement",
            pa.string(),
            "new (not in the previous list), up, down, same, or dropped (left the list)",
            nullable=False,
        ),
        Column(
            "rank_change",
            pa.int32(),
            "previous_rank - rank: +n = up n places, -n = down n; null for new and dropped",
        ),
        Column(
            "days_at_1",
            pa.int32(),
            "consecutive snapshots up to this one where it was #1 (0 unless #1 now)",
            nullable=False,
        ),
    ]


TOP_TRACKS_MOVEMENT = TableSpec(
    "top_tracks_movement",
    "One row per track in a user's top-tracks snapshot, or in the previous snapshot and not "
    "this one (dropped), with its rank change and days at #1. Partition: snapshot date.",
    _movement_columns("track"),
    sort_by=["user_id", "time_range", "rank", "track_id"],
)

TOP_ARTISTS_MOVEMENT = TableSpec(
    "top_artists_movement",
    "One row per artist in a user's top-artists snapshot, or in the previous snapshot and not "
    "this one (dropped), with its rank change and days at #1. Partition: snapshot date.",
    _movement_columns("artist"),
    sort_by=["user_id", "time_range", "rank", "artist_id"],
)

TOP_ALBUMS = TableSpec(
    "top_albums",
    "One row per album among a user's top 5 albums derived from a top-tracks snapshot, per time "
    "range (singles skipped; score documented in defs/tops/albums.py). Partition: snapshot date.",
    [
        Column("user_id", pa.string(), "Spotify user id", nullable=False),
        Column("snapshot_date", pa.date32(), "the top-tracks snapshot used", nullable=False),
        Column("time_range", pa.string(), "short_term, medium_term or long_term", False),
        Column("rank", pa.int32(), "1..5 by score", nullable=False),
        Column("album_id", pa.string(), "Spotify album id", nullable=False),
        Column("album_name", pa.string(), "album title"),
        Column("album_type", pa.string(), "album or compilation"),
        Column("album_artist_names", STRINGS, "the album's artists"),
        Column("tracks_in_list", pa.int32(), "how many of its tracks are in the list", False),
        Column("track_ranks", pa.list_(pa.int32()), "their ranks, best first", nullable=False),
        Column("score", pa.float64(), "sum of track popularity, or of (51 - rank)", False),
        Column(
            "scoring",
            pa.string(),
            "popularity (the list had popularity: extended quota) or rank_fallback",
            nullable=False,
        ),
    ],
    sort_by=["user_id", "time_range", "rank"],
)

TOPS_FROM_PLAYS = TableSpec(
    "tops_from_plays",
    "One row per (user, ListenBrainz range, entity, metric, rank): the top 50 tracks, artists, "
    "albums (and genres, once artist_genres exists) by listened minutes and by plays, computed "
    "from `plays` as of the end of a local day. Partition: the as-of date.",
    [
        Column("user_id", pa.string(), "Spotify user id", nullable=False),
        Column("as_of_date", pa.date32(), "the local day the ranges are relative to", False),
        Column("timezone", pa.string(), "IANA timezone the days are in", nullable=False),
        Column(
            "time_range",
            pa.string(),
            "this_week, this_month, this_year (to date), week, month, quarter, half_yearly, "
            "year (previous complete period), all_time",
            nullable=False,
        ),
        Column("period_start", pa.date32(), "first local day of the range (null: all_time)"),
        Column("period_end", pa.date32(), "local day after the range (exclusive)", False),
        Column("entity", pa.string(), "track, artist, album or genre", nullable=False),
        Column("metric", pa.string(), "minutes or plays: what the rank orders by", False),
        Column("rank", pa.int32(), "1..50", nullable=False),
        Column(
            "entity_key",
            pa.string(),
            "grouping key: the recording ('isrc:' + ISRC, 'mbid:' + MBID or "
            "'name:' + artist, tab, title, rule in defs/tops/sql/recordings.sql), normalised "
            "artist name, normalised artist and album joined by a tab, or genre",
            nullable=False,
        ),
        Column(
            "entity_id",
            pa.string(),
            "Spotify id when known (artist, album; a track: its most played id)",
        ),
        Column("name", pa.string(), "title, artist name, album title or genre"),
        Column("artist_name", pa.string(), "primary artist (tracks and albums)"),
        Column("plays", pa.int64(), "plays (>= 30 s) in the range", nullable=False),
        Column("listened_ms", pa.int64(), "sum of listened_ms in the range", nullable=False),
        Column("minutes", pa.float64(), "listened_ms / 60000", nullable=False),
    ],
    sort_by=["user_id", "time_range", "entity", "metric", "rank"],
    example="""
-- Everyone's top 5 artists this month by minutes, as of the newest day
select user_id, rank, name, round(minutes) as minutes, plays
from tops.tops_from_plays
where as_of_date = (select max(as_of_date) from tops.tops_from_plays)
  and time_range = 'this_month' and entity = 'artist' and metric = 'minutes' and rank <= 5
order by user_id, rank;
""",
)
