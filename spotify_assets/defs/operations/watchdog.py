"""A run whose worker died is failed within a minute, so its pool slots are free and Dagster's
run retries can fire (see `lib/runs.py` for what Dagster's own run monitoring cannot do with the
default launcher)."""

import dagster as dg


@dg.sensor(minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING)
def dead_run_sensor(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    """Fails started runs whose worker process no longer exists, and frees their pool slots."""
    from spotify_assets.lib.runs import fail_dead_runs
    from spotify_assets.lib.settings import get_settings

    failed = fail_dead_runs(context.instance, min_age_s=get_settings().dead_run_grace_s)
    for run_id in failed:
        context.log.warning(f"run {run_id}: its worker is gone; marked failed, slots freed")
    return dg.SkipReason(f"{len(failed)} run(s) with a dead worker failed" if failed else "ok")
