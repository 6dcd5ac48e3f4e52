"""The demo: the whole graph on the emulator, then a summary; and no token anywhere after it."""

import gzip
import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import dagster as dg
import httpx
import pytest

from spotify_assets.lib.catalog import summarize
from spotify_assets.lib.settings import Settings, get_settings
from spotify_assets.lib.users.registry import UserRegistry
from spotify_assets.materialize import materialize_selection
from spotify_assets_tests.demo_deployment import DemoDeployment

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _demo(data_dir: Path, port: int) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "SPOTIFY_ASSETS_DATA_DIR": str(data_dir),
        "SPOTIFY_ASSETS_EMULATOR_PORT": str(port),
        "SPOTIFY_ASSETS_DEMO_DAYS": "5",
        # A pinned world: both runs see the same history whatever the clock says.
        "SPOTIFY_ASSETS_DEMO_END": "2026-03-10T12:00:00+00:00",
    }
    return subprocess.run(
        [sys.executable, "-m", "spotify_assets.cli", "demo", "--exit-after-summary"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
def test_demo_exits_after_summary_and_a_second_run_is_idempotent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    port = _free_port()
    first = _demo(data, port)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    warehouse = data / "warehouse.duckdb"
    counts = summarize(warehouse).views
    materialized = {p.name for p in (data / "lake").iterdir() if any(p.rglob("*.parquet"))}
    assert materialized <= set(counts)  # a view for every materialized table
    assert counts["plays"] > 0 and counts["daily_listening"] > 0
    assert re.search(r"warehouse: .*warehouse\.duckdb", first.stdout)
    # The folder the catalog's lake paths are relative to: the link's, not its target's.
    assert f"open it:   cd {data} && " in first.stdout

    second = _demo(data, port)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert summarize(warehouse).views == counts
    # The second emulator is a new accounts service: its listeners logged in again, so its
    # polls worked (none was left needing a login).
    monkeypatch.setenv("SPOTIFY_ASSETS_DATA_DIR", str(data))
    get_settings.cache_clear()
    try:
        listeners = UserRegistry(get_settings()).list()
    finally:
        get_settings.cache_clear()
    assert len(listeners) >= 5 and {u.status for u in listeners} == {"active"}
    assert "needs_reauth" not in second.stdout


def _tokens(base_url: str) -> list[str]:
    """Every access and refresh token the emulator ever issued."""
    issued = httpx.get(f"{base_url}/_emulator/tokens").json()["tokens"]
    return [t["token"] for t in issued]


@pytest.mark.slow
def test_no_token_in_any_file_or_log_after_a_full_run(
    emu, demo: DemoDeployment, caplog: pytest.LogCaptureFixture
) -> None:
    # The demo's pipeline ran into this deployment (spotify_assets_tests/demo_deployment.py),
    # shared with the rebuild test before this one and the UI test after it: every file and
    # log record of them all is looked at here.
    caplog.set_level("DEBUG")
    settings, home = demo.settings, demo.home
    instance = demo.instance()
    try:
        # A failing token too: revoke one user and poll again.
        httpx.post(f"{emu.base_url}/_emulator/users/demo_tokyo/revoke")
        materialize_selection(settings, ["polled_plays"], instance=instance)
        _numbers_read_as_numbers(instance)
    finally:
        instance.dispose()
    tokens = _tokens(emu.base_url)
    assert len(tokens) >= 10
    logs = "\n".join([*demo.log, caplog.text])
    leaks = [t[:6] for t in tokens if t in logs]
    assert leaks == []
    assert (settings.lake_dir / "plays").is_dir() and (settings.lake_dir / "mb_artists").is_dir()
    for root in (settings.data_dir, home):
        for path in root.rglob("*"):
            if not path.is_file() or path.name == "token.key":
                continue
            body = path.read_bytes()
            if path.suffix == ".gz":
                body = gzip.decompress(body)
            found = [t[:6] for t in tokens if t.encode() in body]
            assert found == [], f"token material in {path}"
    _nothing_personal_in_the_instance(settings, home)


def _numbers_read_as_numbers(instance: dg.DagsterInstance) -> None:
    """Every float a materialization shows in the UI is rounded (no 0.30000000000000004)."""
    long_floats = {}
    seen = 0
    for run in instance.get_runs():
        for entry in instance.all_logs(run.run_id):
            event = entry.dagster_event
            if event is None or not event.is_step_materialization:
                continue
            for label, value in event.step_materialization_data.materialization.metadata.items():
                if isinstance(value, dg.FloatMetadataValue) and value.value is not None:
                    seen += 1
                    if len(repr(value.value).split(".")[-1]) > 4:
                        long_floats[f"{event.asset_key.to_user_string()}.{label}"] = value.value
    assert seen >= 3  # there are floats to look at
    assert long_floats == {}


def _personal_names(settings: Settings) -> tuple[set[str], set[str]]:
    """(user ids, track and artist names only one listener has): what the instance, which
    outlives `users remove`, must never hold."""
    import duckdb

    from spotify_assets.defs.listening.tables import PLAYS
    from spotify_assets.defs.resources import Warehouse
    from spotify_assets.defs.tops.tables import TOP_ARTISTS, TOP_TRACKS

    warehouse = Warehouse(settings)
    con = duckdb.connect()
    try:
        sources = {
            "plays": (PLAYS, "track_name, artist_name"),
            "top_tracks": (TOP_TRACKS, "track_name, artist_names[1]"),
            "top_artists": (TOP_ARTISTS, "artist_name, null"),
        }
        selects = []
        for name, (spec, columns) in sources.items():
            con.register(name, warehouse.scan(spec))
            selects.append(f"select user_id, unnest([{columns}]) as name from {name}")
        rows = con.execute(
            f"select name from ({' union all '.join(selects)}) where length(name) >= 12 "
            "group by name having count(distinct user_id) = 1"
        ).fetchall()
        users = {r[0] for r in con.execute("select distinct user_id from plays").fetchall()}
    finally:
        con.close()
    return users, {r[0] for r in rows}


def _nothing_personal_in_the_instance(settings: Settings, home: Path) -> None:
    users, names = _personal_names(settings)
    assert len(users) >= 4 and len(names) >= 20  # there is something to leak
    leaks: dict[str, list[str]] = {}
    for path in home.rglob("*"):
        if not path.is_file():
            continue
        body = path.read_bytes()
        found = [u for u in users if u.encode() in body]
        found += [n for n in names if n.encode() in body or json.dumps(n)[1:-1].encode() in body]
        if found:
            leaks[str(path.relative_to(home))] = sorted(found)[:5]
    assert leaks == {}, "user ids or single-listener names in the Dagster instance"
