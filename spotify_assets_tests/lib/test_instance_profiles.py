"""Instance profiles: a new Dagster home gets the profile SPOTIFY_ASSETS_INSTANCE selects,
copied from deploy/dagster/; an existing file is never overwritten, one of the other profile is
refused with what to do; production needs its Postgres settings, named when missing."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from spotify_assets.lib.instance import (
    LOCAL_DAGSTER_YAML,
    InstanceError,
    prepare_dagster_home,
    profile_of,
    profiles_dir,
    write_profile,
)
from spotify_assets.lib.settings import SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[2]
PG = {"pg_host": "db.internal", "pg_db": "dagster", "pg_username": "dagster"}


def test_the_profiles_are_the_files_an_operator_reads(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    assert profiles_dir() == ROOT / "deploy" / "dagster"
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    home = prepare_dagster_home(load_settings(data_dir=tmp_path / "data"))
    assert (home / "dagster.yaml").read_text() == LOCAL_DAGSTER_YAML
    assert (ROOT / "deploy/dagster/local.yaml").read_text() == LOCAL_DAGSTER_YAML
    production = yaml.safe_load((ROOT / "deploy/dagster/production.yaml").read_text())
    # Every connection value from the environment, none written in the file.
    assert production["storage"]["postgres"]["postgres_db"] == {
        "hostname": {"env": "DAGSTER_PG_HOST"},
        "port": {"env": "DAGSTER_PG_PORT"},
        "db_name": {"env": "DAGSTER_PG_DB"},
        "username": {"env": "DAGSTER_PG_USERNAME"},
        "password": {"env": "DAGSTER_PG_PASSWORD"},
        "scheme": "postgresql+psycopg2",
    }
    # The same pools and run limit as the local profile; the queue's limits are not in the
    # run_coordinator block (Dagster refuses both).
    local = yaml.safe_load(LOCAL_DAGSTER_YAML)
    assert production["concurrency"] == local["concurrency"]
    assert "max_concurrent_runs" not in production["run_coordinator"].get("config", {})
    assert production["run_retries"] == local["run_retries"]


def test_one_variable_selects_the_profile_and_a_mismatch_is_refused(tmp_path: Path) -> None:
    production = load_settings(data_dir=tmp_path / "data", instance="production", **PG)
    config = write_profile(tmp_path / "home", production)
    assert profile_of(config.read_text()) == "production"
    config.write_text(config.read_text() + "# an operator's edit\n")
    write_profile(tmp_path / "home", production)  # kept, not overwritten
    assert config.read_text().endswith("# an operator's edit\n")
    local = load_settings(data_dir=tmp_path / "data")
    with pytest.raises(InstanceError, match=r"production instance profile.*INSTANCE"):
        write_profile(tmp_path / "home", local)
    # A home written before profiles were files is the local one; an operator's own file is kept.
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    (legacy / "dagster.yaml").write_text("# Written by spotify-assets for a local deployment\n")
    with pytest.raises(InstanceError):
        write_profile(legacy, production)
    own = tmp_path / "own"
    own.mkdir()
    (own / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    write_profile(own, production)


def test_production_names_the_postgres_settings_it_misses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SPOTIFY_ASSETS_INSTANCE", "production")
    with pytest.raises(SettingsError, match="DAGSTER_PG_HOST, DAGSTER_PG_DB, DAGSTER_PG_USERNAME"):
        load_settings()
    monkeypatch.setenv("SPOTIFY_ASSETS_INSTANCE", "sqlite")
    with pytest.raises(SettingsError, match="SPOTIFY_ASSETS_INSTANCE"):
        load_settings()
