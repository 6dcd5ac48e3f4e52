"""A `data/` made by the daily-layout code (the committed fixture, a real demo's lake and Dagster
instance) keeps working: `spotify-assets upgrade` reports its months, every table reads the same
through the new catalog, and the new code rebuilds every day with the same rows and schema."""

import json
import tarfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from spotify_assets.cli import main
from spotify_assets.defs.listening.plays import plays
from spotify_assets.defs.listening.stats import daily_listening
from spotify_assets.defs.resources import build_resources
from spotify_assets.lib import catalog
from spotify_assets.lib.orchestrate import QUIET, RANGE_END_TAG, RANGE_START_TAG
from spotify_assets.lib.settings import Settings, get_settings

FIXTURE = Path(__file__).parents[2] / "fixtures" / "daily_layout_data.tgz"
MONTH = "2026-11-01"  # the fixture's demo ran 2026-11-17 .. 2026-11-20


def _rows(table: pa.Table) -> list[str]:
    """A table's rows as sorted JSON lines: equal lists, equal content (any file split). An
    instant is written in UTC: DuckDB hands times over in the session's time zone, the
    machine's."""
    return sorted(json.dumps(row, default=_text, sort_keys=True) for row in table.to_pylist())


def _text(value: object) -> str:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).isoformat()
    return str(value)


@pytest.fixture
def old_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Settings, dict]]:
    with tarfile.open(FIXTURE) as archive:
        archive.extractall(tmp_path / "data", filter="data")
    lake = tmp_path / "data" / "lake"
    before: dict[str, list[str]] = {}
    for table_dir in sorted(p for p in lake.iterdir() if p.is_dir()):
        files = [p for p in sorted(table_dir.rglob("*.parquet")) if pq.read_metadata(p).num_rows]
        if files:
            before[table_dir.name] = _rows(
                pa.concat_tables([pq.read_table(f) for f in files], promote_options="default")
            )
    monkeypatch.setenv("SPOTIFY_ASSETS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "data" / "dagster_home"))
    get_settings.cache_clear()
    yield get_settings(), before
    get_settings.cache_clear()


def test_an_upgraded_daily_layout_reads_the_same_and_shows_its_months(
    old_data: tuple[Settings, dict], capsys: pytest.CaptureFixture
) -> None:
    settings, before = old_data
    assert set(before) >= {"plays", "daily_listening", "exported_plays", "polled_plays"}
    assert main(["upgrade"]) == 0
    assert "plays: 1 month partition(s) reported materialized" in capsys.readouterr().out
    con = catalog.connect(settings.warehouse_path)
    try:
        for table, rows in before.items():
            assert _rows(con.sql(f"select * from {table}").to_arrow_table()) == rows, table
    finally:
        con.close()

    instance = dg.DagsterInstance.get()
    monthly = dg.MonthlyPartitionsDefinition(start_date="2008-10-01", end_offset=1)
    for name in ("plays", "episode_plays", "daily_listening", "listening_coverage"):
        status = instance.get_status_by_partition(dg.AssetKey(name), [MONTH], monthly)
        assert status == {MONTH: dg.AssetPartitionStatus.MATERIALIZED}, name
    assert main(["upgrade"]) == 0  # once is enough: a second run reports nothing
    assert "plays: 0 month partition(s)" in capsys.readouterr().out


def test_the_new_code_rebuilds_the_daily_layouts_days(old_data: tuple[Settings, dict]) -> None:
    settings, _ = old_data
    old = {
        (table, p.stem): pq.read_table(p)
        for table in ("plays", "daily_listening")
        for p in (settings.lake_dir / table).glob("*.parquet")
        if pq.read_metadata(p).num_rows
    }
    resources = build_resources(settings)
    result = dg.materialize(
        [plays, daily_listening],
        resources=resources,
        instance=dg.DagsterInstance.ephemeral(),
        run_config=QUIET,
        tags={RANGE_START_TAG: MONTH, RANGE_END_TAG: MONTH},
    )
    assert result.success
    lake = resources["warehouse"].lake
    rebuilt = {
        (table, entry.partition): pq.read_table(settings.lake_dir / entry.path)
        for table in ("plays", "daily_listening")
        for entry in lake.entries(table)
    }
    # Every day the old code wrote, the new code writes again, row for row and with the same
    # schema (its metadata included), in a new file. The bytes may differ: a small file is now
    # written with other Parquet options (`lib.lake.files.SMALL_FILE_ROWS`).
    assert set(rebuilt) == set(old)
    for key, table in old.items():
        assert rebuilt[key].schema.equals(table.schema, check_metadata=True), key
        assert rebuilt[key].to_pylist() == table.to_pylist(), key
    assert all("/2026-11/" in str(p) for t in ("plays", "daily_listening") for p in lake.files(t))
