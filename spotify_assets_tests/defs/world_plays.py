"""The emulator world's true plays, for tests of what is computed from `plays` (tops, wrapped):
a frame of ground truth with the world's ids, and the `plays` rows the listening merge would
leave for it.

Plays from `polled_since` on look like polls matched to nothing (track, artist and album ids,
ISRC, no skip or shuffle flag); older ones like extended-export rows (track id and names, skip
and shuffle flags, no ISRC, no artist or album id). `listened_ms` is the exact `ms_played`.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from spotify_assets.defs.listening.tables import PLAYS
from spotify_assets.defs.resources import Warehouse
from spotify_assets.emulator.world import World
from spotify_assets.lib.dedupe import track_key


def truth_frame(world: World) -> pd.DataFrame:
    """One row per true play of a track (>= 30 s), with the world's ids."""
    rows = []
    for uid in world.users:
        for i, play in enumerate(world.plays(uid)):
            if play.kind != "track" or play.ms_played < 30_000:
                continue
            track = world.tracks[play.item_id]
            album = world.albums[track.album_id]
            artist = world.artists[track.artist_ids[0]]
            rows.append(
                {
                    "user_id": uid,
                    "play_id": f"{uid}-{i}",
                    "started_at": play.started_at,
                    "ended_at": play.ended_at,
                    "ms_played": play.ms_played,
                    "track_id": track.id,
                    "track_name": track.name,
                    "artist_id": artist.id,
                    "artist_name": artist.name,
                    "all_artist_ids": list(track.artist_ids),
                    "album_id": album.id,
                    "album_name": album.name,
                    "album_artist": world.artists[album.artist_ids[0]].name,
                    "isrc": track.isrc,
                    "duration_ms": track.duration_ms,
                    "skipped": play.skipped,
                    "shuffle": play.shuffle,
                }
            )
    frame = pd.DataFrame(rows)
    frame["started_at"] = pd.to_datetime(frame["started_at"], utc=True)
    frame["ended_at"] = pd.to_datetime(frame["ended_at"], utc=True)
    return frame


def as_plays(truth: pd.DataFrame, polled_since: datetime) -> pd.DataFrame:
    polled = truth["ended_at"] >= polled_since
    exported = ~polled
    frame = pd.DataFrame(
        {
            "user_id": truth["user_id"],
            "play_id": truth["play_id"],
            "day": truth["started_at"].dt.date,
            "started_at": truth["started_at"],
            "ended_at": truth["ended_at"],
            "ended_at_precision": "s",
            "ms_played": truth["ms_played"],
            "listened_ms": truth["ms_played"],
            "listened_ms_estimated": False,
            "track_id": truth["track_id"],
            "track_key": [
                track_key(a, t)
                for a, t in zip(truth["artist_name"], truth["track_name"], strict=True)
            ],
            "track_name": truth["track_name"],
            "artist_name": truth["artist_name"],
            "artist_ids": [
                ids if p else None for ids, p in zip(truth["all_artist_ids"], polled, strict=True)
            ],
            "album_id": truth["album_id"].where(polled, None),
            "album_name": truth["album_name"],
            "duration_ms": truth["duration_ms"].where(polled, None),
            "isrc": truth["isrc"].where(polled, None),
            "sources": [["poll"] if p else ["export_extended"] for p in polled],
            "skipped": truth["skipped"].astype(object).where(exported, None),
            "shuffle": truth["shuffle"].astype(object).where(exported, None),
        }
    )
    for column in PLAYS.column_names:
        if column not in frame:
            frame[column] = None
    return frame[PLAYS.column_names]


def write_plays(warehouse: Warehouse, plays: pd.DataFrame) -> None:
    for day, rows in plays.groupby("day"):
        warehouse.write(PLAYS, rows, day.isoformat())
    warehouse.publish()
