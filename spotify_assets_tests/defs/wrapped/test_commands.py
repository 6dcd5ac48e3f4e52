"""`spotify-assets wrapped USER [--month YYYY-MM | --year YYYY]` through the CLI's `main`: the
summary and the report's path (rendered when the file is missing); bad input is one line on
stderr and exit code 2, without a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from spotify_assets.cli import main
from spotify_assets.defs.resources import Warehouse
from spotify_assets.defs.wrapped.monthly import monthly_wrapped
from spotify_assets.defs.wrapped.tables import MONTHLY_WRAPPED
from spotify_assets.emulator.world import World
from spotify_assets.lib.settings import Settings, get_settings
from spotify_assets.lib.users.registry import UserRegistry
from spotify_assets_tests.conftest import EMULATOR_TEST_CONFIG
from spotify_assets_tests.defs.wrapped.conftest import (
    as_plays,
    materialize,
    truth_frame,
    write_plays,
)


@pytest.fixture
def deployment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """A data dir (from the environment, as the CLI reads it) with March's wrapped."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SPOTIFY_ASSETS_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    settings = get_settings()
    world = World(EMULATOR_TEST_CONFIG)
    write_plays(Warehouse(settings), as_plays(truth_frame(world), world.end - timedelta(days=1)))
    registry = UserRegistry(settings)
    for uid in ("demo_heavy", "demo_tokyo"):
        registry.enroll(uid, world.users[uid].display_name, "unused",
                        timezone=world.users[uid].timezone)
    materialize(settings, [monthly_wrapped], partition_key="2026-03-01")
    yield settings
    get_settings.cache_clear()


def test_prints_the_summary_and_the_report_path(
    deployment: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    [row] = Warehouse(deployment).scan(MONTHLY_WRAPPED, "user_id = 'demo_heavy'").to_pylist()

    assert main(["wrapped", "demo_heavy", "--month", "2026-03"]) == 0

    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("March 2026 (America/New_York)")
    assert f"{row['plays']:,} plays" in out[1]
    assert any(row["top_track_name"] in line for line in out)
    assert "  top artists:" in out
    path = Path(out[-1].removeprefix("report: "))
    handle = UserRegistry(deployment).require("demo_heavy").handle
    assert path == (deployment.reports_dir / handle / "2026-03.html").resolve()
    assert path.is_file() and "<svg" in path.read_text()  # rendered, as it was missing
    # Without --month: the latest month with a wrapped, the same one here.
    assert main(["wrapped", "demo_heavy"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"report: {path}"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["wrapped", "demo_heavy", "--month", "2026-13"], "--month '2026-13': use YYYY-MM"),
        (["wrapped", "demo_heavy", "--month", "March"], "use YYYY-MM"),
        (["wrapped", "demo_heavy", "--year", "26"], "--year '26': use YYYY"),
        (["wrapped", "demo_heavy", "--month", "2026-03", "--year", "2026"], "not both"),
        (["wrapped", "nobody"], "no listener 'nobody' is enrolled"),
        (["wrapped", "demo_heavy", "--month", "2026-01"], "no wrapped for 'demo_heavy' in 2026-01"),
        (["wrapped", "demo_heavy", "--year", "2025"], "no wrapped for 'demo_heavy' in 2025"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(
    deployment: Settings, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    [line] = captured.err.splitlines()
    assert line.startswith("spotify-assets: ") and message in line
    assert "Traceback" not in captured.err
