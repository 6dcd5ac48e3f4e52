"""When the wrapped runs: at the end of every month (twice on the 1st), and on January 1st for
the year.

`monthly` partitions include the unfinished current month, so the schedules name the month
that just ended explicitly, from the tick's time (never from the clock of the run).
"""

from datetime import UTC, date, timedelta

import dagster as dg

from spotify_assets.defs.partitions import monthly, yearly
from spotify_assets.defs.wrapped.common import CAPTURE_TAG

MONTHLY_ASSETS = [
    "monthly_wrapped_captured",
    "monthly_wrapped",
    "monthly_wrapped_tops",
    "monthly_wrapped_playlists",
    "monthly_wrapped_reports",
]
YEARLY_ASSETS = ["yearly_wrapped", "yearly_wrapped_tops", "yearly_wrapped_reports"]
# The 00:00 tick captures Spotify's lists; by 12:30 the month is over in every timezone (UTC-12
# ends it at 12:00 UTC) and the 30-minute poll has its last plays: the plays part is complete,
# and the playlists, fixed once made, are made then.
CAPTURE_ASSETS = ["monthly_wrapped_captured", "monthly_wrapped", "monthly_wrapped_tops",
                  "monthly_wrapped_reports"]
FINAL_ASSETS = ["monthly_wrapped", "monthly_wrapped_tops", "monthly_wrapped_playlists",
                "monthly_wrapped_reports"]

monthly_wrapped_job = dg.define_asset_job(
    "monthly_wrapped_job", selection=dg.AssetSelection.assets(*MONTHLY_ASSETS)
)
yearly_wrapped_job = dg.define_asset_job(
    "yearly_wrapped_job", selection=dg.AssetSelection.assets(*YEARLY_ASSETS)
)


def month_before(day: date) -> date:
    return (day.replace(day=1) - timedelta(days=1)).replace(day=1)


@dg.schedule(
    job=monthly_wrapped_job,
    cron_schedule=["0 0 1 * *", "30 12 1 * *"],
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def monthly_wrapped_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """On the 1st at 00:00 UTC, for the month just ended: capture Spotify's top lists (they
    only tell the present) and compute the plays part so far. At 12:30 UTC, for the same month:
    the plays part again, now complete everywhere, and the opt-in playlists."""
    tick = context.scheduled_execution_time.astimezone(UTC)
    month = month_before(tick.date()).isoformat()
    monthly.time_window_for_partition_key(month)  # a key of `monthly`, or this raises
    if tick.hour == 0:
        return dg.RunRequest(
            run_key=f"{month}:capture",
            partition_key=month,
            tags={CAPTURE_TAG: "true"},
            asset_selection=[dg.AssetKey(a) for a in CAPTURE_ASSETS],
        )
    return dg.RunRequest(
        run_key=f"{month}:final",
        partition_key=month,
        asset_selection=[dg.AssetKey(a) for a in FINAL_ASSETS],
    )


@dg.schedule(
    job=yearly_wrapped_job,
    cron_schedule="30 12 1 1 *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def yearly_wrapped_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """On January 1st at 12:30 UTC, for the year just ended: over in every timezone by then,
    and December's capture (the year's captured part) was taken at 00:00."""
    year = str(context.scheduled_execution_time.astimezone(UTC).year - 1)
    yearly.time_window_for_partition_key(year)
    return dg.RunRequest(run_key=year, partition_key=year)
