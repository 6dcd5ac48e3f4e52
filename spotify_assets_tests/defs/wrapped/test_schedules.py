"""The wrapped schedules at fixed ticks: the 1st at 00:00 UTC captures the month just ended, at
12:30 UTC completes it; January 1st at 12:30 UTC asks for the year just ended."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg
import pytest

from spotify_assets.definitions import defs
from spotify_assets.defs.wrapped.common import CAPTURE_TAG
from spotify_assets.defs.wrapped.schedules import (
    CAPTURE_ASSETS,
    FINAL_ASSETS,
    monthly_wrapped_schedule,
    yearly_wrapped_schedule,
)


def tick(schedule: dg.ScheduleDefinition, at: datetime) -> dg.RunRequest:
    # With the repository, the request's partition key is checked against the job's too.
    context = dg.build_schedule_context(
        scheduled_execution_time=at, repository_def=defs().get_repository_def()
    )
    [request] = schedule.evaluate_tick(context).run_requests
    return request


@pytest.mark.parametrize(
    ("at", "month"),
    [
        (datetime(2026, 3, 1, 0, 0, tzinfo=UTC), "2026-02-01"),
        (datetime(2026, 1, 1, 0, 0, tzinfo=UTC), "2025-12-01"),  # across the year
        (datetime(2024, 3, 1, 0, 0, tzinfo=UTC), "2024-02-01"),  # after a leap day
    ],
)
def test_the_midnight_tick_captures_exactly_the_month_just_ended(at: datetime, month: str) -> None:
    assert monthly_wrapped_schedule.cron_schedule == ["0 0 1 * *", "30 12 1 * *"]

    request = tick(monthly_wrapped_schedule, at)

    assert request.partition_key == month
    assert request.run_key == f"{month}:capture"
    assert request.tags[CAPTURE_TAG] == "true"
    assert set(request.asset_selection) == {dg.AssetKey(a) for a in CAPTURE_ASSETS}
    assert dg.AssetKey("monthly_wrapped_playlists") not in request.asset_selection


def test_the_noon_tick_completes_the_same_month_and_makes_the_playlists() -> None:
    request = tick(monthly_wrapped_schedule, datetime(2026, 3, 1, 12, 30, tzinfo=UTC))

    assert (request.partition_key, request.run_key) == ("2026-02-01", "2026-02-01:final")
    assert CAPTURE_TAG not in request.tags
    assert set(request.asset_selection) == {dg.AssetKey(a) for a in FINAL_ASSETS}
    assert dg.AssetKey("monthly_wrapped_captured") not in request.asset_selection


def test_the_new_year_tick_asks_for_the_year_just_ended() -> None:
    assert yearly_wrapped_schedule.cron_schedule == "30 12 1 1 *"

    request = tick(yearly_wrapped_schedule, datetime(2027, 1, 1, 12, 30, tzinfo=UTC))

    assert (request.partition_key, request.run_key) == ("2026", "2026")
