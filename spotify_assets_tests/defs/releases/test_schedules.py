"""The releases schedules, evaluated at fixed ticks: Monday 06:00 UTC asks for the ISO week that
just ended (across a year boundary too); every 6 hours the slot of the tick."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg
import pytest

from spotify_assets.definitions import defs
from spotify_assets.defs.releases.schedules import (
    RADAR_ASSETS,
    album_appearances_schedule,
    release_radar_schedule,
)


@pytest.mark.parametrize(
    ("tick", "week"),
    [
        (datetime(2026, 3, 9, 6, tzinfo=UTC), "2026-03-02"),
        (datetime(2026, 1, 5, 6, tzinfo=UTC), "2025-12-29"),  # ISO week 1 of 2026 starts here
        (datetime(2027, 1, 4, 6, tzinfo=UTC), "2026-12-28"),
    ],
)
def test_the_monday_tick_asks_for_the_week_that_just_ended(tick: datetime, week: str) -> None:
    assert release_radar_schedule.cron_schedule == "0 6 * * 1"
    # With the repository, the tick's partition key is also checked against the job's.
    context = dg.build_schedule_context(
        scheduled_execution_time=tick, repository_def=defs().get_repository_def()
    )
    [request] = release_radar_schedule.evaluate_tick(context).run_requests
    assert (request.partition_key, request.run_key) == (week, week)


@pytest.mark.parametrize(
    ("tick", "slot"),
    [
        (datetime(2026, 3, 10, 0, tzinfo=UTC), "2026-03-10T00:00:00+00:00"),
        (datetime(2026, 3, 10, 18, tzinfo=UTC), "2026-03-10T18:00:00+00:00"),
    ],
)
def test_the_six_hourly_tick_snapshots_its_slot(tick: datetime, slot: str) -> None:
    assert album_appearances_schedule.cron_schedule == "0 */6 * * *"
    [request] = album_appearances_schedule.evaluate_tick(
        dg.build_schedule_context(scheduled_execution_time=tick)
    ).run_requests
    assert request.run_key == slot
    assert request.run_config == {"ops": {"album_appearances": {"config": {"slot": slot}}}}


def test_the_jobs_select_the_domains_assets() -> None:
    definitions = defs()
    radar_job = definitions.resolve_job_def("release_radar_job")
    keys = {k.to_user_string() for k in radar_job.asset_layer.selected_asset_keys}
    assert keys == set(RADAR_ASSETS)
    appearances = definitions.resolve_job_def("album_appearances_job")
    assert {k.to_user_string() for k in appearances.asset_layer.selected_asset_keys} == {
        "album_appearances"
    }
