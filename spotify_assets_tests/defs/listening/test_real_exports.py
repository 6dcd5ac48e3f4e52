"""Real export files (copied from public repositories, see ../../lib/exports/realdata/README.md)
through the pipeline's import, exactly as an operator runs `spotify-assets import`."""

import json
from pathlib import Path

import dagster as dg
import pytest

from spotify_assets.defs.listening.imports import import_item
from spotify_assets.defs.listening.plays import episode_plays, plays
from spotify_assets.defs.listening.tables import EPISODE_PLAYS, EXPORTED_PLAYS, PLAYS
from spotify_assets.defs.resources import Warehouse, build_resources
from spotify_assets.lib.orchestrate import RANGE_END_TAG, RANGE_START_TAG
from spotify_assets.lib.raw import RawStore
from spotify_assets.lib.settings import load_settings
from spotify_assets.lib.users.registry import UserRegistry

REALDATA = Path(__file__).resolve().parents[2] / "lib" / "exports" / "realdata"
FILES = sorted(REALDATA.glob("*.json"))


@pytest.fixture
def settings(tmp_path: Path):
    settings = load_settings(data_dir=tmp_path / "data")
    UserRegistry(settings).add_export_only("someone", "Someone", "UTC")  # imports need a listener
    return settings


@pytest.mark.parametrize("path", FILES, ids=[p.name.split("__")[0] for p in FILES])
def test_every_row_of_a_real_export_is_accounted_for(settings, path: Path) -> None:
    inbox = settings.inbox_dir / "someone"
    inbox.mkdir(parents=True)
    staged = inbox / path.name
    staged.write_bytes(path.read_bytes())
    result = import_item(
        settings, Warehouse(settings), RawStore(settings.raw_dir), "someone", staged
    )
    assert result.status == "imported", result.error
    [report] = result.reports
    rows = len(json.loads(path.read_text()))
    assert report.rows_read == rows
    parts = (report.kept_tracks + report.kept_episodes + report.kept_audiobooks
             + report.kept_video + report.kept_unknown + report.duplicate_in_file
             + report.malformed)  # fmt: skip
    assert parts == rows
    stored = Warehouse(settings).scan(EXPORTED_PLAYS, "user_id = 'someone'").num_rows
    assert stored == rows - report.duplicate_in_file - report.malformed
    assert RawStore(settings.raw_dir).find_by_hash("exports", "someone", report.file_sha256)


def test_known_podcast_rows_land_in_episode_plays(settings) -> None:
    path = REALDATA / "extended_Streaming_History_Audio_2023_first300__Efrrowini.json"
    rows = json.loads(path.read_text())
    podcast_rows = [i for i, r in enumerate(rows) if r["spotify_episode_uri"]]
    assert podcast_rows == [180, 181, 182, 183, 184, 194, 295]  # per the data's README
    inbox = settings.inbox_dir / "someone"
    inbox.mkdir(parents=True)
    (inbox / path.name).write_bytes(path.read_bytes())
    warehouse = Warehouse(settings)
    result = import_item(
        settings, warehouse, RawStore(settings.raw_dir), "someone", inbox / path.name
    )
    days = sorted(result.days)
    with dg.instance_for_test() as instance:
        assert dg.materialize(
            [plays, episode_plays],
            resources=build_resources(settings),
            instance=instance,
            tags={RANGE_START_TAG: days[0][:7] + "-01", RANGE_END_TAG: days[-1][:7] + "-01"},
        ).success
    got = warehouse.scan(EPISODE_PLAYS).column("episode_uri").to_pylist()
    assert sorted(got) == sorted(rows[i]["spotify_episode_uri"] for i in podcast_rows)
    tracks = warehouse.scan(PLAYS).num_rows
    expected = {
        (r["ts"], r["spotify_track_uri"])
        for r in rows
        if r["spotify_track_uri"] and r["ms_played"] >= 30_000
    }
    assert tracks == len(expected)
