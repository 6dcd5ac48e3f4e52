"""The tops schedules: which partition each tick asks for, and the snapshot run's config."""

from datetime import UTC, datetime

import dagster as dg

from spotify_assets.defs.tops.schedules import (
    SCHEDULED_COOLDOWN_HOURS,
    top_items_schedule,
    tops_from_plays_schedule,
)
from spotify_assets.defs.tops.snapshots import TopItemsConfig, top_items


def tick(schedule: dg.ScheduleDefinition, at: datetime) -> dg.RunRequest:
    return schedule(dg.build_schedule_context(scheduled_execution_time=at))


def test_snapshot_schedule_takes_todays_partition_with_a_cooldown_under_a_day() -> None:
    request = tick(top_items_schedule, datetime(2026, 3, 5, 5, 0, tzinfo=UTC))

    assert request.partition_key == "2026-03-05"
    config = request.run_config["ops"][top_items.op.name]["config"]
    assert TopItemsConfig(**config).cooldown_hours == SCHEDULED_COOLDOWN_HOURS < 24
    assert not TopItemsConfig(**config).force


def test_tops_from_plays_schedule_takes_yesterday_once_it_is_over_everywhere() -> None:
    request = tick(tops_from_plays_schedule, datetime(2026, 3, 5, 12, 30, tzinfo=UTC))

    assert request.partition_key == "2026-03-04"
