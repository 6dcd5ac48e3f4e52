"""`spotify-assets import` and `spotify-assets refresh`: the operator's synchronous import, through
the CLI and the deployment's Dagster instance."""

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from spotify_assets.cli import main
from spotify_assets.defs.listening.history import STALE_SCOPE
from spotify_assets.defs.resources import Warehouse
from spotify_assets.lib import catalog
from spotify_assets.lib.settings import Settings, get_settings
from spotify_assets.lib.users.registry import UserRegistry

REAL = (
    Path(__file__).resolve().parents[2]
    / "lib" / "exports" / "realdata"
    / "extended_Streaming_History_Audio_2023_first300__Efrrowini.json"
)  # fmt: skip


@pytest.fixture
def deployment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """A data dir with one enrolled listener, and no DAGSTER_HOME: the local instance."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SPOTIFY_ASSETS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    get_settings.cache_clear()
    settings = get_settings()
    UserRegistry(settings).enroll("someone", "Someone", "a-token", timezone="Europe/Berlin")
    yield settings
    get_settings.cache_clear()


def _instance(settings: Settings) -> dg.DagsterInstance:
    return dg.DagsterInstance.from_config(str(settings.dagster_home))


def test_import_prints_the_report_and_refreshes_through_the_local_instance(
    deployment: Settings, capsys: pytest.CaptureFixture
) -> None:
    assert main(["import", "--user", "someone", str(REAL)]) == 0
    out = capsys.readouterr().out
    assert "| read | 300 |" in out and "| kept: podcast episodes | 7 |" in out
    assert "refreshing listening_refresh_job" in out and "refreshing tops_from_plays_job" in out
    # The runs are in the deployment's instance (what `dagster dev` and the UI use) ...
    instance = _instance(deployment)
    jobs = {r.job_name for r in instance.get_runs()}
    assert {"listening_refresh_job", "listening_totals_job", "tops_from_plays_job"} <= jobs
    assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in instance.get_runs())
    status = instance.get_status_by_partition(
        dg.AssetKey("daily_listening"),
        ["2023-01-01"],
        dg.MonthlyPartitionsDefinition(start_date="2008-10-01", end_offset=1),
    )
    assert status == {"2023-01-01": dg.AssetPartitionStatus.MATERIALIZED}
    # ... nothing is left stale, and the stats are there for the analyst.
    assert Warehouse(deployment).lake.manifest.stale(STALE_SCOPE) == {}
    con = catalog.connect(deployment.warehouse_path)
    try:
        days = con.execute("select count(distinct date) from daily_listening").fetchone()[0]
        tops = con.execute("select count(*) from tops_from_plays").fetchone()[0]
    finally:
        con.close()
    assert days > 0 and tops > 0


def test_an_import_left_unrefreshed_stays_stale_until_a_refresh(
    deployment: Settings, capsys: pytest.CaptureFixture
) -> None:
    assert main(["import", "--user", "someone", "--no-refresh", str(REAL)]) == 0
    stale = Warehouse(deployment).lake.manifest.stale(STALE_SCOPE)
    assert stale  # the import's days wait for a refresh, however long it takes
    assert main(["refresh"]) == 0
    assert Warehouse(deployment).lake.manifest.stale(STALE_SCOPE) == {}
    assert "refreshing listening_refresh_job" in capsys.readouterr().out
    assert main(["refresh"]) == 0
    assert "nothing to refresh" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("user", "says"),
    [
        ("nobody", "no listener 'nobody' is enrolled"),
        ("SOMEONE", "Did you mean 'someone'?"),
        ("somone", "Did you mean 'someone'?"),
        ("../x", "invalid user id '../x'"),
        ("", "invalid user id ''"),
    ],
)
def test_an_unknown_or_invalid_user_is_refused_before_anything_is_written(
    deployment: Settings, capsys: pytest.CaptureFixture, user: str, says: str
) -> None:
    assert main(["import", "--user", user, str(REAL)]) == 2
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not deployment.lake_dir.exists() and not deployment.inbox_dir.exists()


def test_an_unusable_instance_is_refused_before_anything_is_written(
    deployment: Settings, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(deployment.data_dir / "no-such-folder"))
    assert main(["import", "--user", "someone", str(REAL)]) == 2
    assert "is not a folder" in capsys.readouterr().err
    assert not deployment.lake_dir.exists() and not deployment.inbox_dir.exists()


def test_import_of_a_missing_file_fails_clearly(
    deployment: Settings, capsys: pytest.CaptureFixture
) -> None:
    assert main(["import", "--user", "someone", str(deployment.data_dir / "nope.json")]) == 1
    assert "no such file" in capsys.readouterr().err
