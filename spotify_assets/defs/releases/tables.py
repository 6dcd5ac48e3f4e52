"""Lake tables of the releases domain: follows, discographies, the weekly radar and its
playlists, album listings seen every 6 hours, and what is trending in our users' plays."""

import pyarrow as pa

from spotify_assets.lib.lake import Column, TableSpec

TS = pa.timestamp("ms", tz="UTC")
STRINGS = pa.list_(pa.string())
WEEK = Column("week", pa.date32(), "Monday of the ISO week (UTC) of the partition", False)
USER = Column("user_id", pa.string(), "Spotify user id", nullable=False)

FOLLOWED_ARTISTS = TableSpec(
    "followed_artists",
    "One row per artist a user follows, per weekly snapshot (GET /me/following, cursor-paged); "
    "every snapshot is kept. Partition: ISO week and user.",
    [
        WEEK,
        USER,
        Column("artist_id", pa.string(), "Spotify artist id", nullable=False),
        Column("artist_name", pa.string(), "artist name"),
        Column("fetched_at", TS, "when Spotify was asked (a backfilled week: the day it ran)"),
    ],
    sort_by=["week", "user_id", "artist_id"],
)

ARTIST_RELEASES = TableSpec(
    "artist_releases",
    "One row per release in an artist's Spotify listing (/artists/{id}/albums: albums, singles, "
    "compilations, appears-on), filed under the week of the fetch that first saw it; all "
    "partitions together are every release known of every fetched artist. "
    "Partition: the ISO week it was first seen.",
    [
        Column("first_seen_week", pa.date32(), "week of the fetch that first listed it", False),
        Column("artist_id", pa.string(), "the artist whose listing has it", nullable=False),
        Column("album_id", pa.string(), "Spotify album id", nullable=False),
        Column(
            "album_group",
            pa.string(),
            "album, single, compilation or appears_on (inferred in development mode)",
        ),
        Column("album_type", pa.string(), "album, single or compilation (lower case)"),
        Column("album_name", pa.string(), "album title"),
        Column("release_date", pa.string(), "as Spotify gives it: YYYY-MM-DD, YYYY-MM or YYYY"),
        Column("release_date_precision", pa.string(), "day, month or year"),
        Column("release_day", pa.date32(), "first day the release date can mean"),
        Column(
            "radar_week",
            pa.date32(),
            "the week whose radar lists it (rule in defs/releases/README.md); null: none",
        ),
        Column("total_tracks", pa.int32(), "tracks on the release"),
        Column("album_artist_ids", STRINGS, "album artists, primary first"),
        Column("album_artist_names", STRINGS, "their names, same order"),
        Column("url", pa.string(), "open.spotify.com link"),
        Column("first_seen_at", TS, "when the fetch that first listed it ran", nullable=False),
    ],
    sort_by=["artist_id", "album_id"],
)

ARTIST_RELEASE_FETCHES = TableSpec(
    "artist_release_fetches",
    "One row per artist listing fetched for a week (at most one per artist and week, however "
    "many users follow it): how it was paged and what it cost. "
    "Partition: ISO week.",
    [
        WEEK,
        Column("artist_id", pa.string(), "Spotify artist id", nullable=False),
        Column("fetched_at", TS, "when", nullable=False),
        Column("mode", pa.string(), "full, incremental or full_unordered", nullable=False),
        Column("requests", pa.int32(), "artist-albums pages requested", nullable=False),
        Column("listed_total", pa.int32(), "items in the listing (Spotify's total)"),
        Column("items_read", pa.int32(), "items read (the rest was known and skipped)"),
        Column("new_releases", pa.int32(), "items not known before"),
        Column("group_names", STRINGS, "groups in listing order"),
        Column("group_sizes", pa.list_(pa.int32()), "items per group, same order"),
        Column("ordered", pa.bool_(), "grouped and newest first inside groups, as expected"),
        Column("predictions_missed", pa.int32(), "group ends not where predicted"),
        Column("followers", pa.int32(), "our users who follow the artist that week"),
        Column("top_played_by", pa.int32(), "our users with the artist in their top played"),
    ],
    sort_by=["week", "artist_id"],
)

RELEASE_RADAR = TableSpec(
    "release_radar",
    "One row per user and release of the week by an artist on the user's radar (followed, or "
    "optionally among their most played): each release once, with every matched artist. "
    "Partition: ISO week.",
    [
        WEEK,
        USER,
        Column("album_id", pa.string(), "Spotify album id", nullable=False),
        Column("album_name", pa.string(), "title"),
        Column("album_type", pa.string(), "album, single or compilation"),
        Column("album_groups", STRINGS, "how it is listed for the matched artists"),
        Column("release_date", pa.string(), "as Spotify gives it"),
        Column("release_date_precision", pa.string(), "day, month or year"),
        Column("total_tracks", pa.int32(), "tracks on the release"),
        Column("url", pa.string(), "open.spotify.com link"),
        Column("album_artist_names", STRINGS, "album artists, primary first"),
        Column("matched_artist_ids", STRINGS, "the user's radar artists credited, by id"),
        Column("matched_artist_names", STRINGS, "their names, same order"),
        Column("matched_via", STRINGS, "follow or top_played, same order"),
    ],
    sort_by=["week", "user_id", "release_date", "album_id"],
    example="""
-- This week's radar of every listener
select user_id, release_date, album_name, album_type, matched_artist_names
from releases.release_radar
where week = (select max(week) from releases.release_radar)
order by user_id, release_date desc;
""",
)

RELEASE_RADAR_PLAYLISTS = TableSpec(
    "release_radar_playlists",
    "One row per opted-in user and week: their radar playlist (one per user and week), the "
    "tracks it should hold and its state. Partition: ISO week and user.",
    [
        WEEK,
        USER,
        Column(
            "status",
            pa.string(),
            "creating, partial, synced, deleted_by_user (never recreated that week) or empty",
            nullable=False,
        ),
        Column("playlist_id", pa.string(), "Spotify playlist id (null until created)"),
        Column("name", pa.string(), "playlist name"),
        Column("album_ids", STRINGS, "the radar releases it was built from"),
        Column("track_uris", STRINGS, "the tracks it should hold, in order"),
        Column("snapshot_id", pa.string(), "Spotify snapshot after the last change"),
        Column("updated_at", TS, "last change of this row", nullable=False),
    ],
    sort_by=["week", "user_id"],
)

ALBUM_APPEARANCES = TableSpec(
    "album_appearances",
    "One row per album listed in a new-releases snapshot (every 6 hours): Spotify's "
    "/browse/new-releases (extended quota) or, in development mode, recent MusicBrainz releases "
    "of the artists our users play. Partition: the 6-hour slot (YYYY-MM-DDTHH).",
    [
        Column("seen_at", TS, "the 6-hour slot of the snapshot", nullable=False),
        Column(
            "source", pa.string(), "spotify_new_releases or musicbrainz_recent", nullable=False
        ),
        Column("position", pa.int32(), "1-based place in the listing", nullable=False),
        Column(
            "album_key", pa.string(), "`spotify:` + album id or `mb:` + release group id", False
        ),
        Column("album_id", pa.string(), "Spotify album id (MusicBrainz rows: when matched)"),
        Column("release_mbid", pa.string(), "MusicBrainz release id"),
        Column("release_group_mbid", pa.string(), "MusicBrainz release group id"),
        Column("name", pa.string(), "title"),
        Column("artist_names", STRINGS, "credited artists"),
        Column("release_date", pa.string(), "as the source gives it"),
        Column("album_type", pa.string(), "album, single, compilation, ep..."),
    ],
    sort_by=["seen_at", "source", "position"],
)

TRENDING_ARTISTS = TableSpec(
    "trending_artists",
    "One row per artist or track rising week over week across all our users' plays (more "
    "listeners, or capped minutes up by half, with at least 2 listeners: one binge is not a "
    "trend). Partition: ISO week.",
    [
        WEEK,
        Column("entity", pa.string(), "artist or track", nullable=False),
        Column("rank", pa.int32(), "1 = rising most (listeners, then capped minutes)", False),
        Column(
            "key",
            pa.string(),
            "artist: lower-cased primary artist name; track: track_key (artist and title "
            "joined by a tab)",
            nullable=False,
        ),
        Column("name", pa.string(), "artist or track name"),
        Column("artist_name", pa.string(), "primary artist"),
        Column("spotify_id", pa.string(), "Spotify id when known"),
        Column("listeners", pa.int32(), "distinct users who played it this week", False),
        Column("listeners_prev", pa.int32(), "the week before", nullable=False),
        Column("minutes", pa.float64(), "minutes played this week", nullable=False),
        Column("minutes_prev", pa.float64(), "the week before", nullable=False),
        Column("capped_minutes", pa.float64(), "minutes, at most 60 per listener", False),
        Column("capped_minutes_prev", pa.float64(), "the week before", nullable=False),
        Column("plays", pa.int32(), "plays this week", nullable=False),
        Column("plays_prev", pa.int32(), "the week before", nullable=False),
    ],
    sort_by=["week", "entity", "rank"],
)
