"""The lake checks pass on a lake the pipeline built, and each turns red on the fault it is
about (a duplicated play, a clock in the past, a listener dropped from plays or from
daily_listening, a report that does not add up), naming listeners by handle only. A listener
who has not listened yet is counted, not flagged.

The deployment: two listeners imported an extended history through the real import, refreshed
as `spotify-assets import` refreshes it; a third is enrolled with no plays.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from spotify_assets.defs.listening.commands import refresh_stale
from spotify_assets.defs.listening.imports import import_item
from spotify_assets.defs.listening.tables import (
    DAILY_LISTENING,
    IMPORT_REPORTS,
    PLAYS,
    POLLED_PLAYS,
)
from spotify_assets.defs.operations import lake_checks
from spotify_assets.defs.resources import Warehouse, build_resources
from spotify_assets.lib.exports.bench import write_extended_file
from spotify_assets.lib.instance import deployment_instance
from spotify_assets.lib.raw import RawStore
from spotify_assets.lib.settings import Settings, get_settings
from spotify_assets.lib.users.registry import UserRegistry

CHECKS = [
    lake_checks.plays_checks,
    lake_checks.polled_plays_no_future_timestamps,
    lake_checks.daily_listening_listeners_present,
    lake_checks.import_reports_sum_to_rows_read,
]
NAMES = {key.name for check in CHECKS for key in check.check_keys}


@pytest.fixture
def lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("SPOTIFY_ASSETS_DATA_DIR", str(tmp_path / "data"))
    (tmp_path / "dagster_home").mkdir()
    get_settings.cache_clear()
    settings = get_settings()
    registry = UserRegistry(settings)
    for user in ("keeper", "other", "newbie"):
        registry.enroll(user, user.title(), "a-token", timezone="Europe/Berlin")
    for seed, user in enumerate(("keeper", "other"), start=1):
        item = settings.inbox_dir / user / f"Streaming_History_Audio_{seed}.json"
        item.parent.mkdir(parents=True, exist_ok=True)
        write_extended_file(item, 400, seed=seed)
        warehouse = Warehouse(settings)
        assert import_item(settings, warehouse, RawStore(settings.raw_dir), user, item).status \
            == "imported"
    assert refresh_stale(settings, deployment_instance(settings)) == 0
    yield settings
    get_settings.cache_clear()


def _evaluate(settings: Settings) -> dict[str, dg.AssetCheckEvaluation]:
    from spotify_assets.definitions import defs

    assets = defs().assets
    result = dg.materialize(
        [*assets, *CHECKS],
        selection=dg.AssetSelection.checks(*CHECKS),
        resources=build_resources(settings),
    )
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def _rewrite(settings: Settings, spec, keep) -> None:
    """Rewrite every file of `spec` with only the rows `keep(table)` selects (a fault)."""
    warehouse = Warehouse(settings)
    for key in warehouse.partitions(spec):
        table = warehouse.scan(spec, partitions=[key])
        warehouse.write(spec, keep(table), key)
    warehouse.publish()


def test_checks_pass_on_a_built_lake_and_count_listeners_without_plays(lake: Settings) -> None:
    results = _evaluate(lake)
    assert {name: r.passed for name, r in results.items()} == dict.fromkeys(NAMES, True)
    assert len(NAMES) == 6
    present = results["plays_listeners_present"].metadata
    assert present["listeners_with_plays"].value == 2
    assert present["active_without_plays_yet"].value == 1  # newbie: not listened yet, fine
    assert results["import_reports_sum_to_rows_read"].metadata["rows_read"].value == 800


def test_each_check_turns_red_on_its_fault(lake: Settings) -> None:
    handles = {u.id: u.handle for u in UserRegistry(lake).list()}
    warehouse = Warehouse(lake)
    day = warehouse.partitions(PLAYS)[0]
    one_day = warehouse.scan(PLAYS, partitions=[day])
    warehouse.write(PLAYS, pa.concat_tables([one_day, one_day.slice(0, 1)]), day)
    # The pipeline's clock pinned before the last play: that play is "in the future".
    last = max(warehouse.scan(PLAYS).column("ended_at").to_pylist())
    past = lake.model_copy(update={"now": datetime(2020, 1, 1, 6, tzinfo=UTC)})
    assert last > past.now
    # A play that ended an hour after the poll that saw it (this host's clock was behind).
    polled_at = datetime(2020, 1, 1, 9, tzinfo=UTC)
    warehouse.write(POLLED_PLAYS, [{
        "user_id": "keeper", "played_at": polled_at.replace(hour=10), "track_id": "t" * 22,
        "polled_at": polled_at}], "keeper/2020-01-01")
    _rewrite(lake, DAILY_LISTENING, lambda t: t.filter(pc.field("user_id") != "other"))
    _rewrite(lake, IMPORT_REPORTS, lambda t: t.set_column(
        t.schema.get_field_index("rows_read"), "rows_read", pc.add(t["rows_read"], 1)))

    results = _evaluate(past)
    assert not results["plays_unique_play_ids"].passed
    assert results["plays_unique_play_ids"].metadata["duplicate_rows"].value == 1
    assert not results["plays_no_future_timestamps"].passed
    assert results["plays_no_future_timestamps"].metadata["future"].value > 0
    assert results["polled_plays_no_future_timestamps"].metadata["future"].value == 1
    daily = results["daily_listening_listeners_present"]
    assert not daily.passed and handles["other"] in daily.description
    assert "other" not in daily.description.replace(handles["other"], "")
    reports = results["import_reports_sum_to_rows_read"]
    assert not reports.passed and reports.metadata["not_summing"].value == 2

    _rewrite(lake, PLAYS, lambda t: t.filter(pc.field("user_id") != "keeper"))
    present = _evaluate(lake)["plays_listeners_present"]
    assert not present.passed and present.metadata["missing"].value == 1
    assert handles["keeper"] in present.description and "keeper" not in present.description
