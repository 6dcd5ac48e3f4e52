"""Two refreshes of overlapping days take turns on each day asset (one pool per asset, and a
turn held across processes), so the later one reads what the earlier one wrote. Real processes,
a real SQLite Dagster instance with the demo's pool limit, and the run logs to show the order."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.instance.ref import InstanceRef

from spotify_assets.defs.listening.history import TURN_DONE, TURN_TAKEN, day_pool
from spotify_assets.defs.pools import POOL_LIMITS
from spotify_assets.lib.instance import ensure_pool_limits

RUN = textwrap.dedent(
    """
    import sys
    import dagster as dg
    from spotify_assets.defs.listening.plays import plays
    from spotify_assets.defs.resources import build_resources
    from spotify_assets.lib.orchestrate import QUIET, RANGE_END_TAG, RANGE_START_TAG
    from spotify_assets.lib.settings import load_settings

    settings = load_settings(data_dir=sys.argv[1])
    dg.materialize(
        [plays],
        resources=build_resources(settings),
        instance=dg.DagsterInstance.get(),
        run_config=QUIET,
        tags={RANGE_START_TAG: sys.argv[2], RANGE_END_TAG: sys.argv[3], "who": sys.argv[4]},
    )
    """
)


def _seed_history(tmp_path: Path) -> None:
    """A year of synthetic history (2020), so a `plays` step takes long enough to overlap."""
    from spotify_assets.defs.listening.imports import import_item
    from spotify_assets.defs.resources import Warehouse
    from spotify_assets.lib.exports.bench import write_extended_file
    from spotify_assets.lib.raw import RawStore
    from spotify_assets.lib.settings import load_settings
    from spotify_assets.lib.users.registry import UserRegistry

    settings = load_settings(data_dir=tmp_path / "data")
    UserRegistry(settings).add_export_only("someone", "Someone", "UTC")
    inbox = settings.inbox_dir / "someone"
    inbox.mkdir(parents=True)
    write_extended_file(inbox / "Streaming_History_Audio_2020.json", 150_000)
    warehouse = Warehouse(settings)
    item = inbox / "Streaming_History_Audio_2020.json"
    assert import_item(settings, warehouse, RawStore(settings.raw_dir), "someone", item).days


@pytest.mark.parametrize("slots", [1, 2], ids=["the deployment's pool", "a pool that lets both in"])
def test_overlapping_plays_refreshes_in_two_processes_take_turns(
    tmp_path: Path, slots: int
) -> None:
    _seed_history(tmp_path)
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("concurrency:\n  pools:\n    default_limit: 1\n")
    # Created here, once: two processes creating a fresh instance's tables at once collide.
    instance = dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))
    # As every deployment entry point does before its first run (see ensure_pool_limits).
    assert "days_plays" in ensure_pool_limits(instance, POOL_LIMITS)
    # Two slots: what Dagster's SQLite claim does when it races; the turn must hold alone.
    instance.event_log_storage.set_concurrency_slots("days_plays", slots)
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    # Overlapping month ranges of real rows: without the pool the steps run side by side.
    ranges = {"a": ("2020-01-01", "2020-08-01"), "b": ("2020-05-01", "2020-12-01")}
    children = [
        subprocess.Popen(
            [sys.executable, "-c", RUN, str(tmp_path / "data"), lo, hi, who],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for who, (lo, hi) in ranges.items()
    ]
    for child in children:
        _, err = child.communicate(timeout=240)
        assert child.returncode == 0, err.decode()[-2000:]

    steps, turns = [], []
    for run in instance.get_runs():
        logs = instance.all_logs(run.run_id)
        events = {e.dagster_event_type: e.timestamp for e in logs if e.dagster_event_type in (
            dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS)}
        steps.append((events[dg.DagsterEventType.STEP_START],
                      events[dg.DagsterEventType.STEP_SUCCESS]))
        said = {word: e.timestamp for e in logs for word in (TURN_TAKEN, TURN_DONE)
                if e.user_message.startswith("plays: ") and word in e.user_message}
        turns.append((said[TURN_TAKEN], said[TURN_DONE]))
    assert len(turns) == 2
    # The work itself (from taking the turn to its last file) never overlaps; the steps
    # Dagster records do not either, unless its SQLite slot claim let both in at once.
    first, second = sorted(turns)
    assert first[1] <= second[0], f"plays rewrote days side by side: {turns} (steps {steps})"
    instance.dispose()


def test_every_asset_that_rewrites_listening_days_has_its_own_pool() -> None:
    from spotify_assets.definitions import defs
    from spotify_assets.defs.listening.history import HISTORY_ASSETS

    graph = defs()
    for name in HISTORY_ASSETS:
        assert graph.get_assets_def(name).op.pool == day_pool(name), name


def test_a_cut_off_refresh_is_retried_where_the_demo_runs_it() -> None:
    import yaml

    from spotify_assets.defs.listening.sensors import REFRESH_RETRIES, listening_refresh_job
    from spotify_assets.lib.instance import LOCAL_DAGSTER_YAML as DAGSTER_YAML

    assert listening_refresh_job.tags["dagster/max_retries"] == str(REFRESH_RETRIES)
    assert REFRESH_RETRIES >= 1
    config = yaml.safe_load(DAGSTER_YAML)
    assert config["run_retries"] == {"enabled": True, "max_retries": 0}  # only tagged jobs
    assert config["concurrency"]["pools"]["default_limit"] == 1


def test_every_pool_of_the_graph_gets_an_explicit_limit() -> None:
    from spotify_assets.definitions import defs

    definitions = defs()
    pools = {a.op.pool for a in definitions.assets if hasattr(a, "op") and a.op.pool}
    assert pools and pools == set(POOL_LIMITS)
