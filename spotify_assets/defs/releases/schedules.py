"""When the releases domain runs: the weekly radar on Monday morning, new releases every 6 h."""

from datetime import UTC, timedelta

import dagster as dg

from spotify_assets.defs.partitions import weekly

RADAR_ASSETS = [
    "followed_artists",
    "artist_releases",
    "artist_release_fetches",
    "release_radar",
    "release_radar_playlists",
    "trending_artists",
]

release_radar_job = dg.define_asset_job(
    "release_radar_job", selection=dg.AssetSelection.assets(*RADAR_ASSETS)
)
album_appearances_job = dg.define_asset_job(
    "album_appearances_job", selection=dg.AssetSelection.assets("album_appearances")
)


@dg.schedule(
    job=release_radar_job,
    cron_schedule="0 6 * * 1",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def release_radar_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """Mondays 06:00 UTC, for the ISO week that ended at Monday 00:00 UTC. Releases go live at
    local midnight of their day, so a Sunday release is out everywhere (UTC-10 is the last
    market) by Sunday 10:00 UTC; the 30-minute poll has the week's last plays by 00:30; six
    hours leave room for a late listing or a slow refresh without running into the week."""
    tick = context.scheduled_execution_time.astimezone(UTC).date()
    # The last complete ISO week before the tick (on a Monday: the week that just ended).
    week = (tick - timedelta(days=tick.weekday() + 7)).isoformat()
    weekly.time_window_for_partition_key(week)  # a key of `weekly`, or this raises
    return dg.RunRequest(run_key=week, partition_key=week)


@dg.schedule(
    job=album_appearances_job,
    cron_schedule="0 */6 * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def album_appearances_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """Every 6 hours (00, 06, 12, 18 UTC): a new-releases snapshot filed under the tick's slot."""
    slot = context.scheduled_execution_time.replace(minute=0, second=0, microsecond=0)
    slot -= timedelta(hours=slot.hour % 6)
    return dg.RunRequest(
        run_key=slot.isoformat(),
        run_config={"ops": {"album_appearances": {"config": {"slot": slot.isoformat()}}}},
    )
