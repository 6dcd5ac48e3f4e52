"""trending_artists over a 3-week world's plays in the real `plays` lake table: the rising
artists and tracks equal an independent pandas computation of the documented rule, and one
user's binge is not a trend while the same binge shared with a second listener is (capped).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from spotify_assets.bench.musicbrainz import world_plays, write_plays
from spotify_assets.defs.releases.tables import TRENDING_ARTISTS
from spotify_assets.defs.releases.trending import CAP_MINUTES, MIN_LISTENERS, trending_artists
from spotify_assets.defs.resources import Warehouse
from spotify_assets.emulator.world import World, WorldConfig
from spotify_assets.lib.orchestrate import QUIET
from spotify_assets.lib.settings import load_settings

WORLD = WorldConfig(seed=42, days=21, n_artists=40, n_tracks=400,
                    end=datetime(2026, 3, 10, 12, tzinfo=UTC))
WEEK = date(2026, 3, 2)


@pytest.fixture(scope="module")
def plays() -> pd.DataFrame:
    return world_plays(World(WORLD))


def warehouse_with(tmp_path: Path, frame: pd.DataFrame) -> Warehouse:
    warehouse = Warehouse(load_settings(mode="emulator", data_dir=tmp_path / "data"))
    write_plays(warehouse, frame)
    return warehouse


def materialize(warehouse: Warehouse, week: date) -> list[dict]:
    result = dg.materialize([trending_artists], partition_key=week.isoformat(),
                            resources={"warehouse": warehouse}, run_config=QUIET)
    assert result.success
    return warehouse.scan(TRENDING_ARTISTS, partitions=[week.isoformat()]).to_pylist()


def truth(frame: pd.DataFrame, week: date) -> dict[tuple[str, str], dict]:
    """The README's rule, in pandas: per artist (lower-cased primary name) and per track
    (track_key), listeners and minutes this week and the week before, minutes capped at 60 per
    listener; rising with >= 2 listeners and more listeners or capped minutes up by half."""
    start = datetime.combine(week, datetime.min.time(), tzinfo=UTC)
    window = frame[(frame.started_at >= start - timedelta(days=7))
                   & (frame.started_at < start + timedelta(days=7))].copy()
    window["this"] = window.started_at >= start
    window["minutes"] = window.listened_ms / 60_000
    window["artist"] = window.artist_name.str.strip().str.lower()
    found = {}
    for entity, column in (("artist", "artist"), ("track", "track_key")):
        per_user = window.groupby([column, "user_id", "this"]).minutes.sum().reset_index()
        for key, rows in per_user.groupby(column):
            now, before = rows[rows.this], rows[~rows.this]
            figures = {
                "listeners": len(now), "listeners_prev": len(before),
                "capped_minutes": now.minutes.clip(upper=CAP_MINUTES).sum(),
                "capped_minutes_prev": before.minutes.clip(upper=CAP_MINUTES).sum(),
                "minutes": now.minutes.sum(), "minutes_prev": before.minutes.sum(),
            }
            grew = figures["listeners"] > figures["listeners_prev"] or (
                figures["capped_minutes"] > figures["capped_minutes_prev"]
                and figures["capped_minutes"] >= 1.5 * figures["capped_minutes_prev"]
            )
            if figures["listeners"] >= MIN_LISTENERS and grew:
                found[(entity, key)] = figures
    return found


def test_rising_artists_and_tracks_equal_the_rule(tmp_path: Path, plays: pd.DataFrame) -> None:
    warehouse = warehouse_with(tmp_path, plays)
    rows = materialize(warehouse, WEEK)

    expected = truth(plays, WEEK)
    got = {(r["entity"], r["key"]): r for r in rows}
    assert set(got) == set(expected)
    assert any(k[0] == "artist" for k in got) and any(k[0] == "track" for k in got)
    assert any(f["listeners_prev"] > 0 for f in expected.values())  # not all brand new
    for key, figures in expected.items():
        for name, value in figures.items():
            assert got[key][name] == pytest.approx(value), (key, name)
    for entity in ("artist", "track"):
        ranked = sorted((r for r in rows if r["entity"] == entity), key=lambda r: r["rank"])
        assert [r["rank"] for r in ranked] == list(range(1, len(ranked) + 1))
        growth = [(r["listeners"] - r["listeners_prev"],
                   r["capped_minutes"] - r["capped_minutes_prev"]) for r in ranked]
        assert growth == sorted(growth, reverse=True)


def test_one_binge_is_not_a_trend_a_shared_one_is_capped(
    tmp_path: Path, plays: pd.DataFrame
) -> None:
    start = datetime.combine(WEEK, datetime.min.time(), tzinfo=UTC) + timedelta(days=2)
    template = plays.iloc[0].to_dict()

    def play(user: str, n: int) -> dict:
        at = start + timedelta(minutes=4 * n)
        return {**template, "user_id": user, "play_id": f"binge-{user}-{n}",
                "day": at.date(), "started_at": at, "ended_at": at + timedelta(minutes=4),
                "listened_ms": 240_000, "track_id": None, "artist_ids": None,
                "artist_name": "Binge Band", "track_name": "Loop",
                "track_key": "binge band\tloop"}

    binge = [play("demo_heavy", n) for n in range(150)]  # 10 hours, one listener
    alone = materialize(warehouse_with(tmp_path / "one", pd.concat(
        [plays, pd.DataFrame(binge)], ignore_index=True)), WEEK)
    assert not [r for r in alone if r["key"] == "binge band"]

    shared = [*binge, play("demo_light", 1000)]
    rows = materialize(warehouse_with(tmp_path / "two", pd.concat(
        [plays, pd.DataFrame(shared)], ignore_index=True)), WEEK)
    [band] = [r for r in rows if r["key"] == "binge band"]
    assert band["listeners"] == 2 and band["minutes"] == pytest.approx(604)
    assert band["capped_minutes"] == pytest.approx(CAP_MINUTES + 4)
