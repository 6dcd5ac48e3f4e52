"""Analysts never see a failed query or a half-written table (issue 13).

Three kinds of reader query the catalog in a loop, each in its own process: a long-lived Python
connection, a new connection per query, and the DuckDB CLI from PyPI. Meanwhile the pipeline
imports a large history and refreshes it (the very runs of `spotify-assets import`), forgets a
user (`users remove`), and housekeeping removes superseded files with a short grace period.
Every answer must be a state some commit published: each table's figures equal one of the
states before, between or after the writes (counts and sums that differ between them), a
report never shows without its rows, and no query fails.
"""

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from spotify_assets.defs.listening.commands import refresh_stale
from spotify_assets.defs.listening.imports import import_item
from spotify_assets.defs.resources import Warehouse
from spotify_assets.lib import catalog
from spotify_assets.lib.catalog import SNAPSHOT_DIR, catalog_generation, current_target
from spotify_assets.lib.exports.bench import write_extended_file
from spotify_assets.lib.instance import deployment_instance
from spotify_assets.lib.lake import housekeeping
from spotify_assets.lib.raw import RawStore
from spotify_assets.lib.settings import Settings, get_settings
from spotify_assets.lib.users.registry import UserRegistry
from spotify_assets.user_commands import remove_user
from spotify_assets_tests.conftest import record_fault

QUERY = (
    "select (select count(*) from plays), (select coalesce(sum(listened_ms), 0) from plays), "
    "(select count(*) from exported_plays), (select count(*) from import_reports), "
    "(select count(*) from daily_listening)"
)
READER = textwrap.dedent(
    """
    import json, os, subprocess, sys
    import duckdb
    mode, path, stop, cli, query = sys.argv[1:6]
    os.chdir(os.path.dirname(path))  # the catalog's lake paths are relative to its folder
    # A slow query on a loaded machine draws DuckDB's progress bar on stdout, where this
    # reader writes its answers: a display, not data.
    def connect():
        con = duckdb.connect(path, read_only=True)
        con.execute("set enable_progress_bar = false")
        return con

    con = connect() if mode == "long" else None
    while not os.path.exists(stop):
        try:
            if mode == "long":
                row = list(con.execute(query).fetchone())
            elif mode == "fresh":
                fresh = connect()
                row = list(fresh.execute(query).fetchone())
                fresh.close()
            else:
                out = subprocess.run(
                    [cli, "-readonly", "-csv", "-noheader", os.path.basename(path),
                     "-c", "set enable_progress_bar = false", "-c", query],
                    capture_output=True, text=True, timeout=120,
                )
                if out.returncode:
                    raise RuntimeError(out.stderr.strip() or out.stdout.strip())
                row = [int(x) for x in out.stdout.strip().split(",")]
            print(json.dumps({"row": [int(x) for x in row]}), flush=True)
        except Exception as exc:
            print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}), flush=True)
    """
)


def _state(settings: Settings) -> tuple[int, ...]:
    con = catalog.connect(settings.warehouse_path)
    try:
        return tuple(int(x) for x in con.execute(QUERY).fetchone())
    finally:
        con.close()


def _import(settings: Settings, user: str, rows: int, seed: int) -> None:
    inbox = settings.inbox_dir / user
    inbox.mkdir(parents=True, exist_ok=True)
    item = inbox / f"Streaming_History_Audio_{seed}.json"
    write_extended_file(item, rows, seed=seed)
    result = import_item(settings, Warehouse(settings), RawStore(settings.raw_dir), user, item)
    assert result.status == "imported", result.error
    Warehouse(settings).publish()


@pytest.fixture
def deployment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    (tmp_path / "dagster_home").mkdir()
    # The runs' resources read the deployment's settings from the environment, as in the CLI.
    monkeypatch.setenv("SPOTIFY_ASSETS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SPOTIFY_ASSETS_FORGET_WAIT_SECONDS", "1")
    get_settings.cache_clear()
    settings = get_settings()
    registry = UserRegistry(settings)
    for user in ("keeper", "leaver"):
        registry.enroll(user, user.title(), "a-token", timezone="Europe/Berlin")
    _import(settings, "keeper", 3_000, seed=1)
    _import(settings, "leaver", 2_000, seed=2)
    assert refresh_stale(settings, deployment_instance(settings)) == 0
    yield settings
    get_settings.cache_clear()


@pytest.mark.slow
def test_readers_see_whole_generations_during_import_refresh_and_forget(
    request: pytest.FixtureRequest, deployment: Settings, tmp_path: Path
) -> None:
    settings = deployment
    states = [_state(settings)]
    stop = tmp_path / "stop"
    cli = str(Path(sys.executable).parent / "duckdb")
    args = [str(settings.warehouse_path), str(stop), cli, QUERY]
    readers = {
        mode: subprocess.Popen(
            [sys.executable, "-c", READER, mode, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for mode in ("long", "fresh", "cli")
    }
    done = threading.Event()

    def keep_house() -> None:
        warehouse = Warehouse(settings)
        while not done.is_set():
            housekeeping.collect(
                warehouse.lake,
                warehouse.path.parent,
                catalog_generation=catalog_generation(warehouse.path),
                grace=timedelta(seconds=2),
            )
            time.sleep(0.3)

    keeper = threading.Thread(target=keep_house)
    keeper.start()
    try:
        time.sleep(1.0)  # every reader has answered at least once before the writes
        _import(settings, "keeper", 60_000, seed=3)
        states.append(_state(settings))
        assert refresh_stale(settings, deployment_instance(settings)) == 0
        states.append(_state(settings))
        remove_user(settings, "leaver")
        states.append(_state(settings))
        time.sleep(1.0)
    finally:
        done.set()
        keeper.join()
        stop.touch()
    answers: dict[str, list] = {}
    for mode, reader in readers.items():
        out, err = reader.communicate(timeout=120)
        answers[mode] = [json.loads(line) for line in out.splitlines() if line.strip()]
        assert reader.returncode == 0, err[-2000:]

    errors = {mode: [a["error"] for a in got if "error" in a] for mode, got in answers.items()}
    assert errors == {"long": [], "fresh": [], "cli": []}
    assert all(len(got) >= 3 for got in answers.values()), {m: len(g) for m, g in answers.items()}
    # Each table's figures are those of one published state; a report never shows without
    # the rows of its files (exported_plays and import_reports move together).
    plays = {s[:2] for s in states}
    imports = {s[2:4] for s in states}
    daily = {s[4] for s in states}
    assert len(plays) == len(states) - 1 and len(imports) == 3  # the states really differ
    for mode, got in answers.items():
        for answer in got:
            row = tuple(answer["row"])
            assert row[:2] in plays and row[2:4] in imports and row[4] in daily, (mode, row)
    # The long-lived connection keeps the generation it opened: whole, never a mix.
    assert {tuple(a["row"]) for a in answers["long"]} == {states[0]}
    # New connections follow the writes through to the end, seeing the states in between.
    assert tuple(answers["fresh"][-1]["row"]) == states[-1]
    assert len({tuple(a["row"]) for a in answers["fresh"]}) >= 3
    assert len({tuple(a["row"]) for a in answers["cli"]}) >= 2

    # Once the long-lived reader has closed, nothing of the forgotten user is left in the lake
    # or any catalog, old or new.
    warehouse = Warehouse(settings)
    housekeeping.collect(
        warehouse.lake,
        warehouse.path.parent,
        catalog_generation=catalog_generation(warehouse.path),
        grace=timedelta(0),
    )
    holds = housekeeping.holds_user("leaver")
    for path in settings.lake_dir.rglob("*.parquet"):
        assert not holds(path, ""), path
    for path in settings.data_dir.rglob("*"):
        if path.is_file() and "dagster_home" not in path.parts:
            assert b"leaver" not in path.read_bytes(), path
    # Of the catalogs, only the current one is left.
    assert os.listdir(settings.data_dir / SNAPSHOT_DIR) == [
        current_target(warehouse.path).parent.name
    ]
    queries = sum(len(got) for got in answers.values())
    record_fault(
        request,
        "analysts' open connections during an import, its refresh, a forget and housekeeping",
        lost_rows=0,
        others="no",
        note=f"{queries} queries by 3 kinds of reader, 0 failed, each a published state",
    )
