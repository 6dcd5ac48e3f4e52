"""When the tops run: snapshots once a day, tops from plays once every local day is over."""

from datetime import timedelta

import dagster as dg

from spotify_assets.defs.tops.snapshots import TOP_ITEMS_OP

SNAPSHOT_ASSETS = [
    "top_tracks",
    "top_artists",
    "top_tracks_movement",
    "top_artists_movement",
    "top_albums",
]
# A little under a day: the schedule fires every 24 h, and a pull that finished a few seconds
# later yesterday must not put today's pull inside the cooldown.
SCHEDULED_COOLDOWN_HOURS = 20.0

top_items_job = dg.define_asset_job(
    "top_items_job", selection=dg.AssetSelection.assets(*SNAPSHOT_ASSETS)
)
tops_from_plays_job = dg.define_asset_job(
    "tops_from_plays_job", selection=dg.AssetSelection.assets("tops_from_plays")
)


@dg.schedule(
    job=top_items_job, cron_schedule="0 5 * * *", default_status=dg.DefaultScheduleStatus.RUNNING
)
def top_items_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """Every day at 05:00 UTC: today's snapshot of every active user, its movement and albums."""
    day = context.scheduled_execution_time.date().isoformat()
    return dg.RunRequest(
        run_key=day,
        partition_key=day,
        run_config={
            "ops": {TOP_ITEMS_OP: {"config": {"cooldown_hours": SCHEDULED_COOLDOWN_HOURS}}}
        },
    )


@dg.schedule(
    job=tops_from_plays_job,
    cron_schedule="30 12 * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def tops_from_plays_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """Every day at 12:30 UTC, for yesterday: by then yesterday is over in every timezone
    (UTC-12 ends it at 12:00 UTC) and the 30-minute poll has caught its last plays."""
    day = (context.scheduled_execution_time - timedelta(days=1)).date().isoformat()
    return dg.RunRequest(run_key=day, partition_key=day)
