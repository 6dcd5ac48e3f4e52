"""Rebuild from raw (issue 18): delete the lake and the catalog, run `rebuild`, and every
listening table comes back with the same content, table by table: the same file names (a lake
file is named by the hash of its bytes), moments included (when each poll was answered, which
plays it judged late, when each file was imported).

The deployment: three listeners imported their exports and were polled (a late-night podcast
listener, a heavy one, one in Tokyo), the history refreshed as `spotify-assets import` does.
"""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta

import httpx
import pytest

from spotify_assets.defs.listening.commands import refresh_stale
from spotify_assets.defs.listening.imports import import_item
from spotify_assets.defs.listening.poll import polled_plays
from spotify_assets.defs.listening.tables import IMPORT_REPORTS, POLLED_PLAYS
from spotify_assets.defs.operations.rebuild import REBUILT, rebuild
from spotify_assets.defs.resources import Warehouse, build_resources
from spotify_assets.lib.raw import RawStore
from spotify_assets_tests.defs.operations.conftest import Deployment, enroll

USERS = ["demo_heavy", "demo_tokyo", "demo_podcast"]
# What this deployment writes (imports and polls); the API snapshots' receipts have their own
# tests beside their assets.
LISTENING = tuple(t for t in REBUILT if t in (
    "exported_plays", "import_rejects", "import_reports", "polled_plays", "plays",
    "episode_plays", "daily_listening", "listening_sessions", "listening_coverage",
    "listening_heatmap",
))


def _build(d: Deployment) -> None:
    import dagster as dg

    settings = d.settings
    enroll(settings, d.registry, d.emulator, USERS)
    warehouse, raw = Warehouse(settings), RawStore(settings.raw_dir)
    for user in USERS:
        body = httpx.get(f"{d.emulator.base_url}/_emulator/exports/{user}.zip").content
        item = settings.inbox_dir / user / "my_spotify_data.zip"
        item.parent.mkdir(parents=True, exist_ok=True)
        item.write_bytes(body)
        assert import_item(settings, warehouse, raw, user, item).status == "imported"
    config = d.control("GET", "config")
    end = datetime.fromisoformat(config["end"])
    moment = end - timedelta(hours=config["export_end_offset_hours"] + 1)
    while moment <= end:
        d.control("POST", "clock", json={"now": moment.isoformat()})
        assert dg.materialize(
            [polled_plays], resources=build_resources(settings), instance=d.instance
        ).success
        moment += timedelta(minutes=45)
    assert refresh_stale(settings, d.instance) == 0


def _files(settings) -> dict[str, dict[str, str]]:
    """table -> partition -> current file name (`<key>.<hash of its bytes>.parquet`)."""
    out: dict[str, dict[str, str]] = {t: {} for t in LISTENING}
    for entry in Warehouse(settings).lake.manifest.current():
        if entry.table in out:
            out[entry.table][entry.partition] = entry.path.rsplit("/", 1)[-1]
    return out


def _moments(settings) -> tuple[int, int, int]:
    """Distinct poll moments, late-synced plays, import moments: what the rebuild must get
    back from raw's names and the receipts, not from the present."""
    polled = Warehouse(settings).scan(POLLED_PLAYS).to_pydict()
    imported = Warehouse(settings).scan(IMPORT_REPORTS).to_pydict()
    return (len(set(polled["polled_at"])), sum(polled["late_synced"]),
            len(set(imported["imported_at"])))


@pytest.mark.slow
def test_deleting_the_lake_and_rebuilding_from_raw_gives_every_table_back(
    deployment: Deployment,
) -> None:
    d = deployment
    _build(d)
    before_files = _files(d.settings)
    assert len(LISTENING) == 10
    for table in LISTENING:  # nothing vacuous: every compared table has files
        assert before_files[table], table
    polls, late, imports = _moments(d.settings)
    # (no play syncs late in the demo world: test_poll_plan rebuilds late-synced plays)
    assert polls >= 3 and imports == len(USERS), (polls, late, imports)

    shutil.rmtree(d.settings.lake_dir)
    d.settings.warehouse_path.unlink()
    report = rebuild(d.settings, d.instance)

    assert report.failed_runs == 0
    assert report.files_imported == len(USERS) * 2 and report.files_unnamed == 0
    after_files = _files(d.settings)
    for table in LISTENING:
        assert after_files[table] == before_files[table], f"{table} differs after the rebuild"
    assert d.settings.warehouse_path.exists()
    # What it cannot rebuild, it says.
    assert {"poll_plan", "mb_recordings", "release_radar"} <= set(report.not_rebuilt)
    assert not {"top_tracks", "followed_artists", "spotify_tracks"} & set(report.not_rebuilt)

    # Idempotent on a complete lake: nothing is written again.
    again = rebuild(d.settings, d.instance)
    assert again.files_imported == 0 and again.polled_days_written == 0
    assert _files(d.settings) == after_files
