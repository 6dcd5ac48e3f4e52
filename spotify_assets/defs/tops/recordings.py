"""Which recording a play is of: the grouping key of track tops (the rule is in
`sql/recordings.sql` and defs/tops/README.md), shared by `tops_from_plays` and the wrapped."""

from __future__ import annotations

import pyarrow as pa

from spotify_assets.defs.listening.tables import PLAYS
from spotify_assets.defs.musicbrainz.tables import MB_RECORDINGS
from spotify_assets.defs.resources import Warehouse
from spotify_assets.defs.tops.common import LakeView, run_sql
from spotify_assets.defs.tops.tables import TOP_TRACKS

RECORDINGS_SCHEMA = pa.schema(
    [("track_id", pa.string()), ("track_key", pa.string()), ("recording_key", pa.string())]
)


def recording_keys(warehouse: Warehouse) -> pa.Table:
    """(track_id, track_key, recording_key) for every track id and name key in `plays`, from
    everything the lake knows: every plays file, every top-list snapshot, the MusicBrainz
    matches. All history, not a window: an ISRC a poll showed this week regroups last year's
    export-only plays of the same track too."""
    table = run_sql(
        "recordings.sql",
        views={
            "plays": LakeView(PLAYS, warehouse.files(PLAYS), "track_id, track_key, isrc"),
            "top_tracks": LakeView(TOP_TRACKS, warehouse.files(TOP_TRACKS), "track_id, isrc"),
            "mb_recordings": LakeView(
                MB_RECORDINGS,
                warehouse.files(MB_RECORDINGS),
                "track_id, recording_mbid, status, isrc",
            ),
        },
    )
    return table.cast(RECORDINGS_SCHEMA)
