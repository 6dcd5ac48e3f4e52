"""Privacy-export files for the demo users, shaped like real Spotify exports.

Formats copied from the samples in shared/realdata/spotify/exports (key order, value types,
2-space indented UTF-8 JSON without a trailing newline; the legacy endsong file is compact):
- extended history `Streaming_History_Audio_<YYYY>[_N].json` for every user (podcast rows have
  null track fields and filled `episode_*` fields; `offline_timestamp` in seconds);
- account data `StreamingHistory_music_N.json` / `StreamingHistory_podcast_N.json` (minute
  `endTime`, 10,000 rows per file) for demo_heavy, demo_light and demo_podcast;
- legacy `endsong_N.json` (username, ip_addr_decrypted, user_agent_decrypted, no audiobook keys,
  `skipped` mostly null, `offline_timestamp` in ms) for demo_skipper.
Exports end `export_end_offset_hours` before the world's end, so they overlap polled plays but
never cover the last hours.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from spotify_assets.emulator.world import Play, World

ACCOUNT_DATA_USERS = ("demo_heavy", "demo_light", "demo_podcast")
LEGACY_USERS = ("demo_skipper",)
ACCOUNT_ROWS_PER_FILE = 10_000
# Real extended files hold ~12 MB each, about 15,000 rows.
EXTENDED_ROWS_PER_FILE = 15_000
EXTENDED_FOLDER = "Spotify Extended Streaming History"
ACCOUNT_FOLDER = "Spotify Account Data"
LEGACY_FOLDER = "MyData"
LEGACY_PLATFORMS = {
    "android": "Android OS 13 API 33 (Google, Pixel 7)",
    "ios": "iOS 17.4.1 (iPhone15,2)",
    "windows": "Windows 10 (10.0.19045; x64)",
    "osx": "OS X 14.4.1 [arm 2]",
    "web_player": "web_player windows 10;chrome 123.0.0.0;desktop",
}


def build_export_files(world: World, user_id: str) -> dict[str, bytes]:
    """File name -> JSON bytes for one user's export (names without folders)."""
    plays = exported_plays(world, user_id)
    files: dict[str, bytes] = {}
    files.update(_extended_files(world, plays))
    if user_id in ACCOUNT_DATA_USERS:
        files.update(_account_files(world, plays))
    if user_id in LEGACY_USERS:
        rows = [_legacy_row(world, p, i) for i, p in enumerate(plays)]
        for n, chunk in enumerate(_chunks(rows, EXTENDED_ROWS_PER_FILE)):
            files[f"endsong_{n}.json"] = _dump(chunk, compact=True)
    return files


def build_export_zip(world: World, user_id: str) -> bytes:
    """The export as Spotify mails it: a zip with one folder per export kind."""
    buffer = io.BytesIO()
    assert world.config.end is not None
    stamp = world.config.end.timetuple()[:6]
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in sorted(build_export_files(world, user_id).items()):
            info = zipfile.ZipInfo(f"{export_folder(name)}/{name}", date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()


def export_folder(name: str) -> str:
    if name.startswith("Streaming_History_"):
        return EXTENDED_FOLDER
    if name.startswith("endsong_"):
        return LEGACY_FOLDER
    return ACCOUNT_FOLDER


def exported_plays(world: World, user_id: str) -> list[Play]:
    """The plays an export covers: everything that ended before end - offset hours."""
    cutoff = world.end - timedelta(hours=world.config.export_end_offset_hours)
    return [p for p in world.plays(user_id) if p.ended_at < cutoff]


def _dump(rows: list[dict[str, Any]], compact: bool = False) -> bytes:
    if compact:
        text = json.dumps(rows, ensure_ascii=False, separators=(",", ":"))
    else:
        text = json.dumps(rows, ensure_ascii=False, indent=2)
    return text.encode("utf-8")


def _chunks(rows: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def _ts(play: Play) -> str:
    return play.ended_at.strftime("%Y-%m-%dT%H:%M:%SZ")


def _content(world: World, play: Play) -> dict[str, str | None]:
    """The track or episode fields shared by the extended and legacy formats."""
    if play.kind == "track":
        track = world.tracks[play.item_id]
        album = world.albums[track.album_id]
        return {
            "master_metadata_track_name": track.name,
            "master_metadata_album_artist_name": world.artists[album.artist_ids[0]].name,
            "master_metadata_album_album_name": album.name,
            "spotify_track_uri": f"spotify:track:{track.id}",
            "episode_name": None,
            "episode_show_name": None,
            "spotify_episode_uri": None,
        }
    episode = world.episodes[play.item_id]
    return {
        "master_metadata_track_name": None,
        "master_metadata_album_artist_name": None,
        "master_metadata_album_album_name": None,
        "spotify_track_uri": None,
        "episode_name": episode.name,
        "episode_show_name": episode.show_name,
        "spotify_episode_uri": f"spotify:episode:{episode.id}",
    }


def _offline_ms(play: Play) -> int:
    # Real files carry roughly the start of playback here.
    return int(play.started_at.timestamp() * 1000)


def _extended_row(world: World, play: Play) -> dict[str, Any]:
    return {
        "ts": _ts(play),
        "platform": play.platform,
        "ms_played": play.ms_played,
        "conn_country": play.conn_country,
        "ip_addr": play.ip_addr,
        **_content(world, play),
        "audiobook_title": None,
        "audiobook_uri": None,
        "audiobook_chapter_uri": None,
        "audiobook_chapter_title": None,
        "reason_start": play.reason_start,
        "reason_end": play.reason_end,
        "shuffle": play.shuffle,
        "skipped": play.skipped,
        "offline": play.offline,
        "offline_timestamp": _offline_ms(play) // 1000,
        "incognito_mode": play.incognito,
    }


def _legacy_row(world: World, play: Play, index: int) -> dict[str, Any]:
    return {
        "ts": _ts(play),
        "username": play.user_id,
        "platform": LEGACY_PLATFORMS.get(play.platform, play.platform),
        "ms_played": play.ms_played,
        "conn_country": play.conn_country,
        "ip_addr_decrypted": play.ip_addr,
        "user_agent_decrypted": "unknown",
        **_content(world, play),
        "reason_start": play.reason_start,
        "reason_end": play.reason_end,
        "shuffle": play.shuffle,
        # The legacy files leave `skipped` null on almost every row (295 of 300 in the sample).
        "skipped": play.skipped if index % 50 == 0 else None,
        "offline": play.offline,
        "offline_timestamp": _offline_ms(play),
        "incognito_mode": play.incognito,
    }


def _extended_files(world: World, plays: list[Play]) -> dict[str, bytes]:
    by_year: dict[int, list[dict[str, Any]]] = {}
    for play in plays:
        by_year.setdefault(play.ended_at.year, []).append(_extended_row(world, play))
    files = {}
    for year, rows in sorted(by_year.items()):
        chunks = list(_chunks(rows, EXTENDED_ROWS_PER_FILE))
        for n, chunk in enumerate(chunks):
            suffix = f"_{n}" if len(chunks) > 1 else ""
            files[f"Streaming_History_Audio_{year}{suffix}.json"] = _dump(chunk)
    return files


def _account_files(world: World, plays: list[Play]) -> dict[str, bytes]:
    music: list[dict[str, Any]] = []
    podcast: list[dict[str, Any]] = []
    for play in plays:
        end_time = play.ended_at.strftime("%Y-%m-%d %H:%M")
        if play.kind == "track":
            track = world.tracks[play.item_id]
            music.append({
                "endTime": end_time,
                "artistName": world.artists[track.artist_ids[0]].name,
                "trackName": track.name,
                "msPlayed": play.ms_played,
            })
        else:
            episode = world.episodes[play.item_id]
            podcast.append({
                "endTime": end_time,
                "podcastName": episode.show_name,
                "episodeName": episode.name,
                "msPlayed": play.ms_played,
            })
    files = {}
    for kind, rows in (("music", music), ("podcast", podcast)):
        for n, chunk in enumerate(_chunks(rows, ACCOUNT_ROWS_PER_FILE)):
            files[f"StreamingHistory_{kind}_{n}.json"] = _dump(chunk)
    return files
