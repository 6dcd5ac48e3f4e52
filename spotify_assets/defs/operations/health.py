"""Collection health and alerts: is every listener still collected, and does the operator hear
about it (and about failed runs) once, before a listener notices a gap.

- `collection_health`, a check on `polled_plays` (rules in `lib/health.py`): red naming each
  listener by handle, with what to do. Evaluated in two ways: after every poll run (it is part
  of `poll_job`, so a fixed user turns green with the next poll), and by
  `health_alerts_sensor` every 2 minutes as a runless evaluation, so a stall in which no poll
  runs at all (sensor off, runs stuck in the queue) still turns it red.
- `health_alerts_sensor` also posts alerts (`lib/alerts.py`): one message for the problems
  that are new since the last evaluation (a red listener, a red ERROR check, a job whose last
  run failed with no retry to come), none while they stay open.
- Without a daemon nothing evaluates: `spotify-assets health --alert` (cron) does the same.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg

from spotify_assets.lib.health import ACTIONS, CHECK_NAME, CollectionHealth
from spotify_assets.lib.settings import Settings

CHECKED_ASSET = dg.AssetKey("polled_plays")
RUN_LOOKBACK = timedelta(hours=1)  # failures before the sensor's first tick that still count
REPORT_EVERY = timedelta(hours=1)  # an unchanged collection health is recorded this often
JOB_ADVICE = {
    "poll_job": "polling failed for every listener: Spotify, the network or the app's "
    "credentials; the run's log names the error. Plays keep until the next poll (~50 a user)",
    "listening_refresh_job": "its days stay stale and are refreshed again (stale_days_sensor, "
    "or `spotify-assets refresh`); if it keeps failing, read the run's error",
    "import_job": "the export waits in the inbox (or in inbox/<user>/failed/ with the reason); "
    "fix the cause (a full disk?) and it is imported again",
}
DEFAULT_ADVICE = "open the run in the Dagster UI, read its error, and re-execute it once fixed"


def collection_health_now(settings: Settings) -> CollectionHealth:
    """Every enrolled listener's verdict at the poll's clock."""
    from spotify_assets.defs.listening import poll
    from spotify_assets.lib.health import evaluate
    from spotify_assets.lib.polling.store import PlanStore
    from spotify_assets.lib.users.registry import UserRegistry

    users = UserRegistry(settings).list()
    with PlanStore(settings.state_dir) as store:
        plans = store.load()
    return evaluate(users, plans, poll.utc_now(), settings)


def _metadata(health: CollectionHealth) -> dict[str, Any]:
    return {
        **health.counts(),
        "red_listeners": json.dumps([u.handle for u in health.red]),
    }


def check_result(health: CollectionHealth) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=health.passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description=health.description(),
        metadata=_metadata(health),
    )


@dg.asset_check(
    asset=CHECKED_ASSET,
    name=CHECK_NAME,
    description="Every polled listener is collected: polled successfully within "
    "SPOTIFY_ASSETS_HEALTH_STALE_HOURS, not deferred by Spotify for long, not asked to log in "
    "again, no possible loss at the last poll. Red names listeners by handle, with what to do.",
)
def collection_health(settings: dg.ResourceParam[Settings]) -> dg.AssetCheckResult:
    return check_result(collection_health_now(settings))


def _collection_alerts(health: CollectionHealth) -> list:
    from spotify_assets.lib.alerts import Alert
    from spotify_assets.lib.health import ACTIONS

    return [
        Alert(
            f"{CHECK_NAME}/{user.handle}",
            CHECK_NAME,
            user.handle,
            "; ".join(user.problems.values()),
            " / ".join(ACTIONS[kind] for kind in user.problems),
        )
        for user in health.red
    ]


def _check_alerts(instance: dg.DagsterInstance, keys: list[dg.AssetCheckKey]) -> tuple:
    """Alerts for the other checks whose latest evaluation failed with ERROR severity, and the
    keys of those that are fine now."""
    from spotify_assets.lib.alerts import Alert

    raised, fine = [], set()
    latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(keys)
    for key in keys:
        record = latest.get(key)
        evaluation = record.event.asset_check_evaluation if record and record.event else None
        alert_key = f"check/{key.asset_key.to_user_string()}/{key.name}"
        if evaluation is None:
            continue
        if evaluation.passed or evaluation.severity != dg.AssetCheckSeverity.ERROR:
            fine.add(alert_key)
            continue
        raised.append(
            Alert(
                alert_key,
                key.name,
                key.asset_key.to_user_string(),
                f"check {key.name} on {key.asset_key.to_user_string()} is red (run "
                f"{record.run_id[:8]})",
                "open the asset's Checks tab in the Dagster UI: its description says what is "
                "wrong (docs/operations.md, 'Health checks')",
            )
        )
    return raised, fine


def _changed_or_old(instance: dg.DagsterInstance, result: dg.AssetCheckResult) -> bool:
    """Whether to record this evaluation: the verdict differs from the latest one, or that one
    is over `REPORT_EVERY` old (an unchanged verdict every 2 min would only fill the log)."""
    key = dg.AssetCheckKey(CHECKED_ASSET, CHECK_NAME)
    record = instance.event_log_storage.get_latest_asset_check_execution_by_key([key]).get(key)
    if record is None or record.event is None or record.event.asset_check_evaluation is None:
        return True
    latest = record.event.asset_check_evaluation
    verdict = ("red_listeners", *ACTIONS)  # who is red and why, not for how long
    same = latest.passed == result.passed and all(
        _value(latest.metadata.get(k)) == _value(result.metadata.get(k)) for k in verdict
    )
    return not same or record.event.timestamp < time.time() - REPORT_EVERY.total_seconds()


def _value(entry: object) -> object:
    return getattr(entry, "value", entry)


def _will_retry(instance: dg.DagsterInstance, run: dg.DagsterRun) -> bool:
    if not instance.run_retries_enabled:
        return False
    limit = int(run.tags.get("dagster/max_retries", instance.run_retries_max_retries))
    return int(run.tags.get("dagster/retry_number", 0)) < limit


def run_alerts(
    instance: dg.DagsterInstance, after: datetime
) -> tuple[list, set[str], datetime]:
    """Alerts for jobs whose run failed (for good: no retry follows) since `after`, the keys of
    jobs that succeeded since, and the newest update seen."""
    from spotify_assets.lib.alerts import Alert

    records = instance.get_run_records(
        filters=dg.RunsFilter(
            statuses=[dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.SUCCESS],
            updated_after=after,
        ),
        order_by="update_timestamp",
        ascending=True,
        limit=500,
    )
    state: dict[str, Any] = {}
    newest = after
    for record in records:
        newest = max(newest, record.update_timestamp)
        run = record.dagster_run
        if run.status == dg.DagsterRunStatus.SUCCESS:
            state[run.job_name] = None
        elif not _will_retry(instance, run):
            state[run.job_name] = run
    raised, fine = [], set()
    for job, run in state.items():
        key = f"run_failure/{job}"
        if run is None:
            fine.add(key)
            continue
        raised.append(
            Alert(
                key,
                "run_failure",
                job,
                f"run {run.run_id} of {job} failed",
                JOB_ADVICE.get(job, DEFAULT_ADVICE),
            )
        )
    return raised, fine, newest


def evaluate_and_alert(
    settings: Settings,
    instance: dg.DagsterInstance,
    check_keys: list[dg.AssetCheckKey],
    runs_after: datetime,
) -> tuple[CollectionHealth, list, datetime]:
    """One evaluation: collection health reported to the instance, then every new problem
    posted in one message. Returns the health, the alerts sent and the newest run update."""
    from spotify_assets.lib.alerts import AlertBook

    health = collection_health_now(settings)
    result = check_result(health)
    if _changed_or_old(instance, result):
        instance.report_runless_asset_event(
            dg.AssetCheckEvaluation(
                asset_key=CHECKED_ASSET,
                check_name=CHECK_NAME,
                passed=result.passed,
                metadata=result.metadata,
                severity=result.severity,
                description=result.description,
            )
        )
    book = AlertBook(settings)
    others = [k for k in check_keys if k.name != CHECK_NAME]
    check_raised, check_fine = _check_alerts(instance, others)
    run_raised, run_fine, newest = run_alerts(instance, runs_after)
    health_raised = _collection_alerts(health)
    # A listener no longer red (or gone) clears; a check or job clears when it is fine again.
    cleared = (book.open_keys(f"{CHECK_NAME}/") - {a.key for a in health_raised}) | (
        check_fine | run_fine
    )
    sent = book.update([*health_raised, *check_raised, *run_raised], cleared)
    return health, sent, newest


@dg.sensor(minimum_interval_seconds=120, default_status=dg.DefaultSensorStatus.RUNNING)
def health_alerts_sensor(
    context: dg.SensorEvaluationContext, settings: dg.ResourceParam[Settings]
) -> dg.SkipReason:
    """Every 2 minutes: collection health as a runless check evaluation, and one alert message
    (SPOTIFY_ASSETS_ALERT_WEBHOOK_URL) for what turned red or failed since the last tick."""
    from spotify_assets.lib.alerts import AlertPostError

    cursor = json.loads(context.cursor) if context.cursor else {}
    after = (
        datetime.fromisoformat(cursor["runs_after"])
        if "runs_after" in cursor
        else datetime.now(UTC) - RUN_LOOKBACK
    )
    keys = sorted(context.repository_def.asset_graph.asset_check_keys) if (
        context.repository_def is not None
    ) else []
    try:
        health, sent, newest = evaluate_and_alert(settings, context.instance, keys, after)
    except AlertPostError as exc:
        # Nothing was recorded as sent: the same problems are new again at the next tick.
        context.log.warning(str(exc))
        return dg.SkipReason(str(exc))
    context.update_cursor(json.dumps({"runs_after": newest.isoformat()}))
    verdict = "green" if health.passed else f"red: {len(health.red)} listener(s)"
    return dg.SkipReason(f"collection health {verdict}; {len(sent)} new alert(s) sent")
