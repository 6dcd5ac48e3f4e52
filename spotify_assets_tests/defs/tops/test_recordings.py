"""The recording rule (`defs/tops/sql/recordings.sql`), case by case, on lake tables written for
it: ISRC from any source, then the ISRC of the same MusicBrainz recording or of the same
normalised artist + title, then the MusicBrainz id, then the name; two ISRCs stay two."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from spotify_assets.defs.listening.tables import PLAYS
from spotify_assets.defs.musicbrainz.tables import MB_RECORDINGS
from spotify_assets.defs.resources import Warehouse
from spotify_assets.defs.tops.recordings import recording_keys
from spotify_assets.defs.tops.tables import TOP_TRACKS
from spotify_assets.lib.dedupe import track_key
from spotify_assets.lib.settings import Settings

AT = datetime(2026, 2, 3, 12, tzinfo=UTC)


def play(n: int, track_id: str | None, artist: str, title: str, isrc: str | None = None) -> dict:
    return {
        "user_id": "u1",
        "play_id": f"p{n}",
        "day": date(2026, 2, 3),
        "started_at": AT,
        "ended_at": AT,
        "listened_ms": 60_000,
        "track_id": track_id,
        "track_key": track_key(artist, title),
        "track_name": title,
        "artist_name": artist,
        "isrc": isrc,
    }


@pytest.fixture
def keys(emu_settings: Settings) -> dict[tuple[str | None, str], str]:
    warehouse = Warehouse(emu_settings)
    plays = [
        play(1, "single1", "Ada", "Song", "ISRC00000001"),  # polled: carries the ISRC
        play(2, "album1", "Ada", "Song"),  # export only, same name: the ISRC by name
        play(3, "toplisted", "Ada", "Hit"),  # its ISRC is in a top list only
        play(4, "mbonly", "Ada", "Tune"),  # no ISRC; its MusicBrainz recording has one
        play(5, "mbsibling", "Ada", "Tune (Single Version)", "ISRC00000003"),
        play(6, "orig", "Bo", "Same Title", "ISRC00000004"),
        play(7, "remaster", "Bo", "Same Title", "ISRC00000005"),  # another ISRC: another one
        play(8, "unknown", "Bo", "Same Title"),  # two ISRCs by that name: ambiguous
        play(9, "mbA", "Cy", "Alpha"),  # no ISRC anywhere, one MusicBrainz recording
        play(10, "mbB", "Cy", "Alpha (Live-ish)"),
        play(11, None, "Ada", "Song"),  # account data: a name only
        play(12, None, "Dee", "Nobody Knows"),
        play(13, "unmatched", "Eve", "Lonely"),  # MusicBrainz said unmatched
    ]
    warehouse.write(PLAYS, plays, "2026-02-03")
    warehouse.write(TOP_TRACKS, [{
        "user_id": "u1", "snapshot_date": date(2026, 2, 3), "time_range": "short_term",
        "rank": 1, "track_id": "toplisted", "isrc": "isrc00000002", "fetched_at": AT,
    }], "2026-02-03/u1")
    matched = {"status": "matched", "checked_at": AT, "attempts": 0}
    warehouse.write(MB_RECORDINGS, [
        {"track_id": "mbonly", "recording_mbid": "mb-tune", **matched},
        {"track_id": "mbsibling", "recording_mbid": "mb-tune", **matched},
        {"track_id": "mbA", "recording_mbid": "mb-alpha", **matched},
        {"track_id": "mbB", "recording_mbid": "mb-alpha", **matched},
        {"track_id": "orig", "recording_mbid": "mb-same", **matched},
        {"track_id": "remaster", "recording_mbid": "mb-same", **matched},
        {"track_id": "unmatched", "recording_mbid": None, "status": "unmatched",
         "checked_at": AT, "attempts": 1},
    ])
    table = recording_keys(warehouse)
    return {
        (row["track_id"], row["track_key"]): row["recording_key"] for row in table.to_pylist()
    }


def key_of(keys: dict, track_id: str | None, artist: str = "", title: str = "") -> str:
    if track_id is not None:
        [found] = [v for (t, _), v in keys.items() if t == track_id]
        return found
    return keys[(None, track_key(artist, title))]


def test_isrc_from_any_source_groups_single_and_album(keys: dict) -> None:
    assert key_of(keys, "single1") == key_of(keys, "album1") == "isrc:ISRC00000001"
    assert key_of(keys, "toplisted") == "isrc:ISRC00000002"  # a top list's ISRC, upper-cased
    assert key_of(keys, None, "Ada", "Song") == "isrc:ISRC00000001"  # account data by name


def test_musicbrainz_recording_lends_its_isrc_or_its_id(keys: dict) -> None:
    assert key_of(keys, "mbonly") == key_of(keys, "mbsibling") == "isrc:ISRC00000003"
    assert key_of(keys, "mbA") == key_of(keys, "mbB") == "mbid:mb-alpha"


def test_two_isrcs_are_two_recordings_and_an_ambiguous_name_guesses_neither(keys: dict) -> None:
    # MusicBrainz lists both ISRCs on one recording: ISRC comes first, they stay two.
    assert key_of(keys, "orig") == "isrc:ISRC00000004"
    assert key_of(keys, "remaster") == "isrc:ISRC00000005"
    # Two ISRCs by that name: neither is guessed; the name's one MusicBrainz recording is used.
    assert key_of(keys, "unknown") == "mbid:mb-same"
    assert key_of(keys, "unmatched") == "name:" + track_key("Eve", "Lonely")
    assert key_of(keys, None, "Dee", "Nobody Knows") == "name:" + track_key("Dee", "Nobody Knows")
