"""What enrichment works on: the Spotify tracks, albums and artists that plays and tops mention.

`seen_entities` reads the lake (plays, polled_plays, top_tracks, top_artists and the fetched
album bodies in spotify_albums) into plain dataclasses. Names come from wherever the lake has
them: a polled play or a top list names every artist of a track, an export only the primary one,
an album body every artist on the album's tracks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from spotify_assets.defs.listening.tables import PLAYS, POLLED_PLAYS
from spotify_assets.defs.musicbrainz.tables import SPOTIFY_ALBUMS
from spotify_assets.defs.resources import Warehouse
from spotify_assets.defs.tops.tables import TOP_ARTISTS, TOP_TRACKS
from spotify_assets.lib.lake import TableSpec
from spotify_assets.lib.query import LakeView, run_sql

SQL_DIR = Path(__file__).parent / "sql"


@dataclass(frozen=True)
class SeenTrack:
    track_id: str
    title: str
    artist_ids: tuple[str, ...]
    artist_names: tuple[str, ...]  # as the lake gave them; may be only the primary artist
    album_id: str | None
    duration_ms: int | None
    isrc: str | None
    weight: int


@dataclass(frozen=True)
class AlbumBody:
    """The parts of a Spotify album (GET /albums/{id}) that matching uses."""

    album_id: str
    status: str  # ok | not_found
    name: str | None
    upc: str | None
    release_date: str | None
    total_tracks: int | None
    artist_names: tuple[str, ...]


@dataclass(frozen=True)
class SeenAlbum:
    album_id: str
    weight: int
    body: AlbumBody | None  # None until spotify_albums has fetched it


@dataclass(frozen=True)
class SeenArtist:
    artist_id: str
    name: str | None
    weight: int


@dataclass
class Seen:
    tracks: dict[str, SeenTrack] = field(default_factory=dict)
    albums: dict[str, SeenAlbum] = field(default_factory=dict)
    artists: dict[str, SeenArtist] = field(default_factory=dict)

    def artist_names(self, track: SeenTrack) -> list[str]:
        """The track's artist names, primary first, aligned with `artist_ids` when it has ids."""
        if not track.artist_ids:
            return list(track.artist_names)
        names = []
        for position, artist_id in enumerate(track.artist_ids):
            artist = self.artists.get(artist_id)
            name = artist.name if artist else None
            if name is None and position < len(track.artist_names):
                name = track.artist_names[position]
            names.append(name or "")
        return names

    def size(self) -> int:
        return len(self.tracks) + len(self.albums) + len(self.artists)


def lake_query(
    warehouse: Warehouse,
    sql_file: str,
    specs: Sequence[TableSpec],
    tables: Mapping[str, pa.Table] | None = None,
) -> pa.Table:
    """Run `sql/<sql_file>` with one view per lake table in `specs` (all its files) and the
    Arrow `tables` (see `lib.query.run_sql`)."""
    views = {s.name: LakeView(s, warehouse.files(s)) for s in specs}
    return run_sql(SQL_DIR / sql_file, views, tables)


def album_bodies(warehouse: Warehouse) -> dict[str, AlbumBody]:
    rows = warehouse.scan(SPOTIFY_ALBUMS).to_pylist()
    return {
        r["album_id"]: AlbumBody(
            r["album_id"],
            r["status"],
            r["name"],
            r["upc"],
            r["release_date"],
            r["total_tracks"],
            tuple(r["artist_names"] or ()),
        )
        for r in rows
    }


def seen_entities(warehouse: Warehouse) -> Seen:
    """Every track, album and artist plays or tops mention, with the metadata the lake has."""
    seen = Seen()
    table = lake_query(warehouse, "seen_tracks.sql", [PLAYS, POLLED_PLAYS, TOP_TRACKS])
    names: dict[str, str] = {}
    weights: dict[str, int] = {}
    album_weights: dict[str, int] = {}
    for row in table.to_pylist():
        track = SeenTrack(
            row["track_id"],
            row["title"] or "",
            tuple(row["artist_ids"] or ()),
            tuple(row["artist_names"] or ()),
            row["album_id"],
            row["duration_ms"],
            row["isrc"],
            int(row["weight"] or 0),
        )
        seen.tracks[track.track_id] = track
        for position, artist_id in enumerate(track.artist_ids):
            weights[artist_id] = weights.get(artist_id, 0) + track.weight
            if position < len(track.artist_names) and track.artist_names[position]:
                names.setdefault(artist_id, track.artist_names[position])
        if track.album_id:
            album_weights[track.album_id] = album_weights.get(track.album_id, 0) + track.weight
    for row in warehouse.scan(TOP_ARTISTS, "artist_id is not null").to_pylist():
        weights[row["artist_id"]] = weights.get(row["artist_id"], 0) + 1
        if row["artist_name"]:
            names.setdefault(row["artist_id"], row["artist_name"])
    bodies = album_bodies(warehouse)
    for row in warehouse.scan(SPOTIFY_ALBUMS, "status = 'ok'").to_pylist():
        # Album bodies name every artist on the album's tracks: guests that exports never name.
        ids, credited = row["credited_artist_ids"] or [], row["credited_artist_names"] or []
        for artist_id, name in zip(ids, credited, strict=False):
            if artist_id in weights and name:
                names.setdefault(artist_id, name)
    for album_id, weight in album_weights.items():
        seen.albums[album_id] = SeenAlbum(album_id, weight, bodies.get(album_id))
    for artist_id, weight in weights.items():
        seen.artists[artist_id] = SeenArtist(artist_id, names.get(artist_id), weight)
    return seen
