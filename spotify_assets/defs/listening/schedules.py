"""When `spotify_tracks` runs: hourly, so the tracks new plays bring are described within the
hour; a run with nothing new asks Spotify nothing."""

import dagster as dg

spotify_tracks_job = dg.define_asset_job(
    "spotify_tracks_job", selection=dg.AssetSelection.assets("spotify_tracks")
)


@dg.schedule(
    job=spotify_tracks_job,
    cron_schedule="50 * * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def spotify_tracks_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """Every hour at :50 (after the half-hourly polls and their refresh have landed)."""
    return dg.RunRequest(run_key=context.scheduled_execution_time.isoformat())
