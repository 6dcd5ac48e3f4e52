"""When each user is polled: `poll_plan_sensor` requests one `poll_job` run for the users who
are due, and `poll_plan` shows every user's plan as a table.

The decisions are lib/polling (rate model, next poll, fair share of the request budget);
plans live in `<state_dir>/poll_plan.sqlite3` (lib/polling/store.py), beside the registry,
so a restart keeps them. The sensor replaces the fixed 30-minute schedule: a heavy listener is
polled about every 2 hours while they could be listening, about once through their night, and
nobody more often than 40 new plays need.
"""

from dataclasses import dataclass
from datetime import datetime

import dagster as dg
import pyarrow as pa

from spotify_assets.defs.listening.poll import utc_now
from spotify_assets.defs.resources import Warehouse
from spotify_assets.lib.lake import Column, TableSpec
from spotify_assets.lib.pseudonyms import handle_of
from spotify_assets.lib.settings import Settings

TS = pa.timestamp("ms", tz="UTC")

# Declared here, not in tables.py (whose listening tables are being repartitioned): its own
# asset's file, like the sensor that fills it.
POLL_PLAN = TableSpec(
    "poll_plan",
    "One row per enrolled user: when polling reads their recently-played next and why, and "
    "what their polls saw so far. Rewritten by every poll run (not partitioned).",
    [
        Column("user_id", pa.string(), "Spotify user id", nullable=False),
        Column("user_status", pa.string(), "active, paused or needs_reauth", nullable=False),
        Column("next_poll_at", TS, "when the user is due (null: not polled while not active)"),
        Column("reason", pa.string(), "why then, in words", nullable=False),
        Column("last_poll_at", TS, "last successful poll"),
        Column("last_status", pa.string(), "ok, deferred, error, needs_reauth (last attempt)"),
        Column("polls", pa.int64(), "successful polls", nullable=False),
        Column("new_plays", pa.int64(), "plays those polls saw first", nullable=False),
        Column(
            "late_synced_plays",
            pa.int64(),
            "of those, plays Spotify got late (ended before the previous poll): an `after` "
            "cursor would have missed them",
            nullable=False,
        ),
        Column(
            "possible_losses",
            pa.int64(),
            "polls that returned 50 plays, the oldest new to us: plays may have fallen out",
            nullable=False,
        ),
        Column("pace_per_hour", pa.float64(), "plays per hour the plan allows for"),
        Column(
            "target_plays",
            pa.int64(),
            "new plays the next poll lets accrue (40, less the room kept for a late batch)",
        ),
        Column("quiet_hours", pa.list_(pa.int8()), "local hours the plan expects no listening"),
        Column("planned_at", TS, "the moment the plan describes: the latest poll of any user "
               "(before any poll, when the table was written)", nullable=False),
    ],
    sort_by=["user_id"],
    partitioned=False,
)

poll_job = dg.define_asset_job(
    "poll_job", selection=dg.AssetSelection.assets("polled_plays", "poll_plan")
)


@dataclass(frozen=True)
class PollTick:
    """What one evaluation decided, for the sensor and the benchmark."""

    now: datetime
    granted: tuple[str, ...]
    waiting: tuple[str, ...]
    in_flight: tuple[str, ...]
    active: int
    needs_reauth: tuple[str, ...]
    next_at: datetime | None
    budget: int

    @property
    def due(self) -> int:
        return len(self.granted) + len(self.waiting)

    @property
    def message(self) -> str:
        text = f"{self.due} of {self.active} active users due"
        if self.due:
            text += f": {len(self.granted)} polled now"
            if self.waiting:
                text += (
                    f", {len(self.waiting)} wait for the request budget "
                    f"({self.budget} per 30 s)"
                )
        if self.in_flight:
            text += f"; {len(self.in_flight)} being polled"
        if not self.granted and self.next_at is not None:
            minutes = max(0.0, (self.next_at - self.now).total_seconds() / 60)
            text += f"; next poll in {minutes:.0f} min"
        if self.needs_reauth:
            text += "; not polled, must log in again: " + ", ".join(
                handle_of(u) for u in self.needs_reauth
            )
        return text

    def run_request(self) -> dg.RunRequest:
        return dg.RunRequest(
            run_key=f"poll:{self.now.isoformat()}",
            # By handle: run configs stay in the instance after `users remove`.
            run_config={
                "ops": {
                    "polled_plays": {"config": {"handles": [handle_of(u) for u in self.granted]}}
                }
            },
            tags={
                "spotify_assets/users_due": str(self.due),
                "spotify_assets/users_polled": str(len(self.granted)),
            },
        )


def evaluate_poll_plan(settings: Settings, now: datetime) -> PollTick:
    """One tick: every active user's plan against `now`; the granted are marked requested.

    Users who must log in again are not active, so never granted; they are listed.
    """
    from spotify_assets.lib.polling import policy_from
    from spotify_assets.lib.polling.store import PlanStore
    from spotify_assets.lib.users.registry import UserRegistry

    registry = UserRegistry(settings)
    enrolled = registry.list()
    active = [u.id for u in enrolled if u.status == "active"]
    policy = policy_from(settings)
    with PlanStore(settings.state_dir) as store:
        decision = store.grant(active, now, policy, enrolled=[u.id for u in enrolled])
    return PollTick(
        now=now,
        granted=decision.granted,
        waiting=decision.waiting,
        in_flight=decision.in_flight,
        active=len(active),
        needs_reauth=tuple(u.id for u in enrolled if u.status == "needs_reauth"),
        next_at=decision.next_at,
        budget=policy.requests_per_window,
    )


@dg.sensor(
    job=poll_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def poll_plan_sensor(
    context: dg.SensorEvaluationContext, settings: dg.ResourceParam[Settings]
) -> dg.SensorResult | dg.SkipReason:
    """Every 30 s: one `poll_job` run for the users whose plan says they are due (at most the
    request budget per 30 s window, most overdue first); the tick says how many are due."""
    tick = evaluate_poll_plan(settings, utc_now())
    if not tick.granted:
        return dg.SkipReason(tick.message)
    context.log.info(tick.message)
    return dg.SensorResult(run_requests=[tick.run_request()])


@dg.asset(group_name="listening", deps=["polled_plays"], kinds={"parquet"})
def poll_plan(
    settings: dg.ResourceParam[Settings],
    warehouse: dg.ResourceParam[Warehouse],
    users: dg.ResourceParam[object],
) -> dg.MaterializeResult:
    """One row per enrolled user: their next poll and why, with their poll counters.

    Source: the plan store (`data/state/poll_plan.sqlite3`) and the user registry; not
    partitioned, rewritten whole by every poll run.
    """
    from spotify_assets.lib.polling import policy_from
    from spotify_assets.lib.polling.store import PlanStore

    now = utc_now()
    policy = policy_from(settings)
    with PlanStore(settings.state_dir) as store:
        plans = store.load()
    # The plan as the last poll left it (not as of this run's clock): the same state gives
    # the same table, so a rebuild from `state/` gives this file back.
    as_of = max((p.last_poll_at for p in plans.values() if p.last_poll_at), default=now)
    rows = []
    for user in users.list():
        plan = plans.get(user.id)
        model = plan.model if plan is not None else None
        active = user.status == "active"
        if not active:
            reason = "must log in again" if user.status == "needs_reauth" else "paused"
        else:
            reason = plan.reason if plan is not None else "never polled: due now"
        rows.append(
            {
                "user_id": user.id,
                "user_status": user.status,
                "next_poll_at": (plan.next_poll_at if plan else as_of) if active else None,
                "reason": reason,
                "last_poll_at": plan.last_poll_at if plan else None,
                "last_status": plan.last_status if plan else None,
                "polls": plan.polls if plan else 0,
                "new_plays": plan.new_plays if plan else 0,
                "late_synced_plays": plan.late_synced if plan else 0,
                "possible_losses": plan.possible_losses if plan else 0,
                "pace_per_hour": model.pace(as_of, policy) if model else None,
                "target_plays": model.target(plan.backlog) if plan and model else None,
                "quiet_hours": sorted(model.quiet_hours(as_of, policy)) if model else [],
                "planned_at": as_of,
            }
        )
    warehouse.write(POLL_PLAN, rows, None)
    warehouse.publish()
    due = sum(1 for r in rows if r["next_poll_at"] is not None and r["next_poll_at"] <= now)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(rows),
            "users_due": due,
            "needs_reauth": sum(r["user_status"] == "needs_reauth" for r in rows),
            "late_synced_plays": sum(r["late_synced_plays"] for r in rows),
            "possible_losses": sum(r["possible_losses"] for r in rows),
        }
    )

