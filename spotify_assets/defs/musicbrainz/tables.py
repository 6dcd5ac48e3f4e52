"""Lake tables of the MusicBrainz domain: Spotify album bodies, Spotify -> MBID matches, tags
and genres. All unpartitioned: each run rewrites them whole from the enrichment cache (SQLite
under `data/state/`), so they are always a complete, consistent snapshot of it."""

import pyarrow as pa

from spotify_assets.lib.lake import Column, TableSpec

TS = pa.timestamp("ms", tz="UTC")
STRINGS = pa.list_(pa.string())


def _match_columns(what: str) -> list[Column]:
    """Status columns shared by the three match tables."""
    return [
        Column("status", pa.string(), "matched, or unmatched (absent or not sure)", False),
        Column("method", pa.string(), "isrc, barcode or search: how the match was found"),
        Column("score", pa.float64(), f"similarity of the accepted {what} in [0, 1]"),
        Column("matched_at", TS, "when the match was accepted (null while unmatched)"),
        Column("checked_at", TS, "when MusicBrainz was last asked", nullable=False),
        Column(
            "attempts",
            pa.int32(),
            "lookups that found nothing; back-off before the next one: 1, 7, then 30 days",
            nullable=False,
        ),
        Column("retry_after", TS, "unmatched: not asked again before this time"),
    ]


SPOTIFY_ALBUMS = TableSpec(
    "spotify_albums",
    "One row per Spotify album seen in plays or tops, from GET /albums/{id} (fetched once per "
    "album, with any active user's token): the UPC and track count MusicBrainz matching needs.",
    [
        Column("album_id", pa.string(), "Spotify album id", nullable=False),
        Column("status", pa.string(), "ok, or not_found (Spotify answered 404)", False),
        Column("name", pa.string(), "album title"),
        Column("album_type", pa.string(), "album, single or compilation (lower case)"),
        Column("upc", pa.string(), "UPC/EAN barcode from external_ids"),
        Column("release_date", pa.string(), "release date as Spotify gives it"),
        Column("total_tracks", pa.int32(), "tracks on the album"),
        Column("artist_ids", STRINGS, "album artists, primary first"),
        Column("artist_names", STRINGS, "their names, same order"),
        Column("track_ids", STRINGS, "the album's tracks in order (first 50)"),
        Column(
            "credited_artist_ids",
            STRINGS,
            "every artist credited on the album or its listed tracks",
        ),
        Column("credited_artist_names", STRINGS, "their names, same order"),
        Column("fetched_at", TS, "when Spotify was asked", nullable=False),
    ],
    sort_by=["album_id"],
    partitioned=False,
)

MB_RECORDINGS = TableSpec(
    "mb_recordings",
    "One row per Spotify track seen in plays or tops that enrichment has looked up: the "
    "MusicBrainz recording it is, or unmatched (not in MusicBrainz, or not sure).",
    [
        Column("track_id", pa.string(), "Spotify track id", nullable=False),
        Column("recording_mbid", pa.string(), "MusicBrainz recording id (null: unmatched)"),
        *_match_columns("recording"),
        Column("title", pa.string(), "Spotify title"),
        Column("artist_ids", STRINGS, "Spotify artist ids, primary first"),
        Column("album_id", pa.string(), "Spotify album id"),
        Column("isrc", pa.string(), "ISRC from Spotify"),
    ],
    sort_by=["track_id"],
    partitioned=False,
)

MB_RELEASES = TableSpec(
    "mb_releases",
    "One row per Spotify album that enrichment has looked up: the MusicBrainz release (and its "
    "release group) it is, or unmatched.",
    [
        Column("album_id", pa.string(), "Spotify album id", nullable=False),
        Column("release_mbid", pa.string(), "MusicBrainz release id (null: unmatched)"),
        Column("release_group_mbid", pa.string(), "its release group"),
        *_match_columns("release"),
        Column("title", pa.string(), "Spotify album title"),
        Column("upc", pa.string(), "UPC from Spotify"),
    ],
    sort_by=["album_id"],
    partitioned=False,
)

MB_ARTISTS = TableSpec(
    "mb_artists",
    "One row per Spotify artist that enrichment has looked up: the MusicBrainz artist it is "
    "(from the credit of a matched recording, else an artist search), or unmatched.",
    [
        Column("artist_id", pa.string(), "Spotify artist id", nullable=False),
        Column("artist_mbid", pa.string(), "MusicBrainz artist id (null: unmatched)"),
        *_match_columns("artist"),
        Column("name", pa.string(), "Spotify artist name"),
    ],
    sort_by=["artist_id"],
    partitioned=False,
)

MB_TAGS = TableSpec(
    "mb_tags",
    "One row per tag or genre MusicBrainz voters gave a matched entity (today: artists, from "
    "one lookup with inc=tags+genres each). Genres are the curated subset of tags.",
    [
        Column("entity_type", pa.string(), "artist (recording, release... later)", False),
        Column("mbid", pa.string(), "MusicBrainz id of the entity", nullable=False),
        Column("kind", pa.string(), "genre or tag", nullable=False),
        Column("name", pa.string(), "the genre or tag, as MusicBrainz spells it", False),
        Column("count", pa.int32(), "votes", nullable=False),
        Column("fetched_at", TS, "when the lookup was made", nullable=False),
    ],
    sort_by=["entity_type", "mbid", "kind", "name"],
    partitioned=False,
)

GENRES = TableSpec(
    "genres",
    "One row per genre of a Spotify artist or track. An artist's genres are its MusicBrainz "
    "genres, or its tags when it has no genre; a track's are those of its first credited artist "
    "that has any (MusicBrainz recordings rarely carry genres).",
    [
        Column("entity", pa.string(), "artist or track", nullable=False),
        Column("spotify_id", pa.string(), "Spotify artist or track id", nullable=False),
        Column("genre", pa.string(), "genre (or tag) name", nullable=False),
        Column("count", pa.int32(), "MusicBrainz votes", nullable=False),
        Column("rank", pa.int32(), "1 = most votes (ties: by name)", nullable=False),
        Column("kind", pa.string(), "genre, or tag when the artist has no genre", False),
        Column("via_artist_id", pa.string(), "the Spotify artist the genres come from", False),
    ],
    sort_by=["entity", "spotify_id", "rank"],
    partitioned=False,
)
