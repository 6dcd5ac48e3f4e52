"""`spotify-assets import --user ID PATH`: the operator's synchronous import, through the CLI."""

from pathlib import Path

import duckdb
import pytest

from spotify_assets.cli import main
from spotify_assets.lib.settings import get_settings

REAL = (
    Path(__file__).resolve().parents[2]
    / "lib" / "exports" / "realdata"
    / "extended_Streaming_History_Audio_2023_first300__Efrrowini.json"
)  # fmt: skip


def test_import_prints_the_report_and_refreshes_the_stats(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SPOTIFY_ASSETS_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    try:
        assert main(["import", "--user", "someone", str(REAL)]) == 0
    finally:
        get_settings.cache_clear()
    out = capsys.readouterr().out
    assert "| read | 300 |" in out and "| kept: podcast episodes | 7 |" in out
    assert "refreshing listening_refresh_job" in out and "refreshing tops_from_plays_job" in out
    lake = (tmp_path / "data" / "lake").resolve()
    days = duckdb.sql(
        f"select count(distinct date) from read_parquet('{lake}/daily_listening/*.parquet')"
    ).fetchall()[0][0]
    assert days > 0
    assert list((lake / "tops_from_plays").rglob("*.parquet"))


def test_import_of_a_missing_file_fails_clearly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("SPOTIFY_ASSETS_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    try:
        assert main(["import", "--user", "someone", str(tmp_path / "nope.json")]) == 1
    finally:
        get_settings.cache_clear()
    assert "no such file" in capsys.readouterr().err
