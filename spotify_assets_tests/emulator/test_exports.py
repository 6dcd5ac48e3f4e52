"""Export files: real Spotify formats (key sets and order from real samples), overlap with the
polled window, account-data splitting, the legacy endsong format and the zip layout.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from spotify_assets.emulator.exports import exported_plays
from spotify_assets.emulator.server import EmulatorHandle
from spotify_assets.emulator.world import World, WorldConfig
from spotify_assets_tests.emulator.conftest import FIXED_END

REALDATA = Path(__file__).parent / "realdata"
FORMATS = json.loads((REALDATA / "export_formats.json").read_text(encoding="utf-8"))
SHARED_EXPORTS = Path(__file__).resolve().parents[3] / "shared/realdata/spotify/exports"


@pytest.fixture(scope="module")
def world() -> World:
    return World(WorldConfig(end=FIXED_END))


def _rows(files: dict[str, bytes], name: str) -> list[dict]:
    return json.loads(files[name].decode("utf-8"))


def test_stored_formats_still_match_the_real_samples() -> None:
    if not SHARED_EXPORTS.is_dir():
        pytest.skip(f"real export samples not present at {SHARED_EXPORTS}")
    for fmt, info in FORMATS.items():
        rows = json.loads((SHARED_EXPORTS / info["shared_file"]).read_text(encoding="utf-8"))
        assert {tuple(r) for r in rows} == {tuple(info["keys"])}, fmt


def test_every_user_gets_extended_history_in_the_real_format(world: World) -> None:
    keys = FORMATS["extended"]["keys"]
    for user in world.users:
        files = world.export_files(user)
        names = sorted(n for n in files if n.startswith("Streaming_History_Audio_"))
        assert names == [f"Streaming_History_Audio_{world.end.year}.json"], user
        rows = _rows(files, names[0])
        assert all(list(r) == keys for r in rows)
        plays = exported_plays(world, user)
        assert len(rows) == len(plays)
        for row, play in zip(rows, plays, strict=True):
            assert row["ts"] == play.ended_at.strftime("%Y-%m-%dT%H:%M:%SZ")
            assert row["ms_played"] == play.ms_played
            assert isinstance(row["offline_timestamp"], int)
            assert row["offline_timestamp"] <= datetime.fromisoformat(row["ts"]).timestamp()
            assert row["ip_addr"].startswith("192.0.2.")


def test_podcast_rows_have_null_track_fields(world: World) -> None:
    name = f"Streaming_History_Audio_{world.end.year}.json"
    rows = _rows(world.export_files("demo_podcast"), name)
    episodes = [r for r in rows if r["spotify_episode_uri"]]
    tracks = [r for r in rows if r["spotify_track_uri"]]
    assert episodes and tracks and len(episodes) + len(tracks) == len(rows)
    for row in episodes:
        assert row["master_metadata_track_name"] is None and row["spotify_track_uri"] is None
        assert row["episode_name"] and row["episode_show_name"]
    for row in tracks:
        assert row["episode_name"] is None and row["master_metadata_album_artist_name"]


def test_files_are_indented_utf8_without_trailing_newline(world: World) -> None:
    files = world.export_files("demo_tokyo")
    data = files[f"Streaming_History_Audio_{world.end.year}.json"]
    assert data.startswith(b'[\n  {\n    "ts": "')
    assert data.endswith(b"\n  }\n]")
    text = data.decode("utf-8")
    assert re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", text), "Japanese kept as UTF-8"
    assert "\\u" not in text


def test_exports_stop_before_the_end_but_overlap_the_polled_window(world: World) -> None:
    cutoff = world.end - timedelta(hours=world.config.export_end_offset_hours)
    for user in world.users:
        rows = _rows(world.export_files(user), f"Streaming_History_Audio_{world.end.year}.json")
        last = max(datetime.fromisoformat(r["ts"]) for r in rows)
        assert last < cutoff
        later = [p for p in world.plays(user) if p.ended_at >= cutoff]
        if user == "demo_heavy":
            assert later, "the last hours are only reachable through the API"
        # The export's tail reaches into the last day, which recently-played also covers.
        assert last > world.end - timedelta(days=2), user


def test_account_data_for_heavy_light_and_podcast(world: World) -> None:
    music_keys, podcast_keys = FORMATS["account_music"]["keys"], FORMATS["account_podcast"]["keys"]
    for user in ("demo_heavy", "demo_light", "demo_podcast"):
        files = world.export_files(user)
        music = _rows(files, "StreamingHistory_music_0.json")
        assert all(list(r) == music_keys for r in music)
        assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", r["endTime"]) for r in music)
        plays = [p for p in exported_plays(world, user) if p.kind == "track"]
        assert [r["endTime"] for r in music] == [p.ended_at.strftime("%Y-%m-%d %H:%M")
                                                 for p in plays]
        assert [r["msPlayed"] for r in music] == [p.ms_played for p in plays]
    podcast = _rows(world.export_files("demo_podcast"), "StreamingHistory_podcast_0.json")
    assert podcast and all(list(r) == podcast_keys for r in podcast)
    for user in ("demo_skipper", "demo_tokyo"):
        assert not any(n.startswith("StreamingHistory_") for n in world.export_files(user))


def test_account_data_splits_at_ten_thousand_rows() -> None:
    world = World(WorldConfig(end=FIXED_END, days=60, n_artists=40, n_tracks=400))
    files = world.export_files("demo_heavy")
    first, second = (_rows(files, f"StreamingHistory_music_{n}.json") for n in (0, 1))
    assert len(first) == 10_000 and 0 < len(second) <= 10_000
    assert "StreamingHistory_music_2.json" not in files
    times = [r["endTime"] for r in first + second]
    assert times == sorted(times)


def test_the_skipper_also_has_a_legacy_endsong_file(world: World) -> None:
    files = world.export_files("demo_skipper")
    data = files["endsong_0.json"]
    assert b"\n" not in data, "the legacy file is compact"
    rows = json.loads(data)
    assert all(list(r) == FORMATS["legacy_endsong"]["keys"] for r in rows)
    assert len(rows) == len(exported_plays(world, "demo_skipper"))
    assert sum(r["skipped"] is None for r in rows) > 0.9 * len(rows)
    ts = datetime.strptime(rows[0]["ts"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert abs(rows[0]["offline_timestamp"] / 1000 - ts.timestamp()) < 3600
    assert {r["username"] for r in rows} == {"demo_skipper"}
    for user in ("demo_heavy", "demo_tokyo", "demo_podcast", "demo_light"):
        assert "endsong_0.json" not in world.export_files(user)


def test_zip_has_spotifys_folders(emu: EmulatorHandle) -> None:
    listing = httpx.get(f"{emu.base_url}/_emulator/exports/demo_skipper").json()
    response = httpx.get(f"{emu.base_url}/_emulator/exports/demo_skipper.zip")
    assert response.status_code == 200
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        names = archive.namelist()
        folders = {n.split("/")[0] for n in names}
        assert folders == {"Spotify Extended Streaming History", "MyData"}
        assert sorted(n.split("/")[1] for n in names) == listing["files"]
        one = next(n for n in names if n.startswith("Spotify Extended"))
        expected = httpx.get(
            f"{emu.base_url}/_emulator/exports/demo_skipper/{one.split('/')[1]}"
        ).content
        assert archive.read(one) == expected
    heavy = httpx.get(f"{emu.base_url}/_emulator/exports/demo_heavy.zip").content
    with zipfile.ZipFile(io.BytesIO(heavy)) as archive:
        assert any(n.startswith("Spotify Account Data/StreamingHistory_music_0")
                   for n in archive.namelist())
    missing = httpx.get(f"{emu.base_url}/_emulator/exports/demo_heavy/nope.json")
    assert missing.status_code == 404 and "nope.json" in missing.json()["error"]
