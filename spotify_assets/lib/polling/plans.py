"""A user's poll plan (what the store keeps), how a poll outcome or a failure changes it, and
which users a tick grants within the request budget (see the package docstring)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from spotify_assets.lib.polling.rates import (
    LOSS_REPOLL_PLAYS,
    RATE_WINDOW,
    PollOutcome,
    PollPolicy,
    RateModel,
    backlog,
    from_iso,
    next_poll,
    observe,
    to_iso,
)


@dataclass
class Plan:
    """One user's poll plan and counters (a row of the plan store and of `poll_plan`)."""

    user_id: str
    next_poll_at: datetime
    reason: str
    model: RateModel = field(default_factory=RateModel)
    last_poll_at: datetime | None = None  # last successful poll, our clock
    spotify_at: datetime | None = None  # the same moment by Spotify's clock (late syncs)
    last_attempt_at: datetime | None = None
    last_play_at: datetime | None = None
    requested_at: datetime | None = None
    polls: int = 0
    new_plays: int = 0
    late_synced: int = 0
    possible_losses: int = 0
    last_status: str = "new"
    # Since when attempts fail (deferred, error, needs_reauth) with no success in between:
    # how long a 429 storm has deferred the user (collection health). None after a success.
    failing_since: datetime | None = None
    # The last successful poll flagged a possible loss (a full page, its oldest play new).
    last_possible_loss: bool = False
    # Room the next poll keeps for a late batch (rates.backlog), as planned at the last poll.
    backlog: float = 0.0

    def in_flight(self, now: datetime, policy: PollPolicy) -> bool:
        """Requested by the sensor and not reported back yet (nor given up on)."""
        if self.requested_at is None:
            return False
        if self.last_attempt_at is not None and self.last_attempt_at >= self.requested_at:
            return False
        return now - self.requested_at < policy.request_timeout

    def to_json(self) -> dict:
        return {
            "user_id": self.user_id,
            "next_poll_at": to_iso(self.next_poll_at),
            "reason": self.reason,
            "model": self.model.to_json(),
            "last_poll_at": to_iso(self.last_poll_at),
            "spotify_at": to_iso(self.spotify_at),
            "last_attempt_at": to_iso(self.last_attempt_at),
            "last_play_at": to_iso(self.last_play_at),
            "requested_at": to_iso(self.requested_at),
            "polls": self.polls,
            "new_plays": self.new_plays,
            "late_synced": self.late_synced,
            "possible_losses": self.possible_losses,
            "last_status": self.last_status,
            "failing_since": to_iso(self.failing_since),
            "last_possible_loss": self.last_possible_loss,
            "backlog": self.backlog,
        }

    @classmethod
    def from_json(cls, data: dict) -> Plan:
        next_poll_at = from_iso(data["next_poll_at"])
        assert next_poll_at is not None
        return cls(
            user_id=str(data["user_id"]),
            next_poll_at=next_poll_at,
            reason=str(data.get("reason", "")),
            model=RateModel.from_json(data.get("model") or {}),
            last_poll_at=from_iso(data.get("last_poll_at")),
            spotify_at=from_iso(data.get("spotify_at")),
            last_attempt_at=from_iso(data.get("last_attempt_at")),
            last_play_at=from_iso(data.get("last_play_at")),
            requested_at=from_iso(data.get("requested_at")),
            polls=int(data.get("polls", 0)),
            new_plays=int(data.get("new_plays", 0)),
            late_synced=int(data.get("late_synced", 0)),
            possible_losses=int(data.get("possible_losses", 0)),
            last_status=str(data.get("last_status", "new")),
            failing_since=from_iso(data.get("failing_since")),
            last_possible_loss=bool(data.get("last_possible_loss", False)),
            backlog=float(data.get("backlog", 0.0)),
        )


def new_plan(user_id: str, now: datetime) -> Plan:
    return Plan(user_id=user_id, next_poll_at=now, reason="never polled")


def after_poll(
    plan: Plan,
    outcome: PollOutcome,
    timezone: str,
    now: datetime,
    policy: PollPolicy,
    spotify_at: datetime | None = None,
) -> Plan:
    """The plan once a poll succeeded: model updated, counters added, next poll chosen.
    `spotify_at` is the poll's moment by Spotify's clock (default: `now`)."""
    model = observe(plan.model, outcome, timezone, now)
    newest = max(outcome.played_at, default=None)
    last_play = max((t for t in (plan.last_play_at, newest) if t is not None), default=None)
    room = backlog(model, outcome.played_at, timezone, now, policy)
    when, why = next_poll(model, timezone, now, last_play, policy, room)
    if outcome.possible_loss and len(outcome.played_at) > 1:
        span_h = (max(outcome.played_at) - min(outcome.played_at)).total_seconds() / 3600
        pace = len(outcome.played_at) / max(span_h, 1 / 60)
        soon = now + max(policy.min_interval, timedelta(hours=LOSS_REPOLL_PLAYS / pace))
        if soon < when:
            when, why = soon, f"possible loss: {LOSS_REPOLL_PLAYS} plays at {pace:.0f}/h"
    return replace(
        plan,
        next_poll_at=when,
        reason=why,
        model=model,
        last_poll_at=now,
        spotify_at=spotify_at or now,
        last_attempt_at=now,
        last_play_at=last_play,
        polls=plan.polls + 1,
        new_plays=plan.new_plays + outcome.new,
        late_synced=plan.late_synced + outcome.late,
        possible_losses=plan.possible_losses + outcome.possible_loss,
        last_status="ok",
        failing_since=None,
        last_possible_loss=outcome.possible_loss,
        backlog=room,
    )


def after_failure(
    plan: Plan, status: str, now: datetime, policy: PollPolicy, retry_after_s: float | None
) -> Plan:
    """The plan once a poll could not run: a rate limit waits what Spotify asked for, other
    failures back off (longer when they repeat); the model is untouched."""
    if status == "deferred" and retry_after_s:
        wait = timedelta(seconds=retry_after_s)
        why = f"rate limited: Spotify asked for {retry_after_s:.0f} s"
    else:
        repeated = plan.last_status not in ("ok", "new")
        wait = min(policy.max_interval, policy.error_backoff * (4 if repeated else 1))
        why = f"{status}: retry in {wait.total_seconds() / 60:.0f} min"
    return replace(
        plan,
        next_poll_at=now + max(wait, policy.min_interval),
        reason=why,
        last_attempt_at=now,
        last_status=status,
        failing_since=plan.failing_since or now,
    )


@dataclass(frozen=True)
class Decision:
    """One sensor tick: who is polled now, who is due but waits for the budget, who is still
    being polled, and when the next one is due."""

    granted: tuple[str, ...]
    waiting: tuple[str, ...]
    in_flight: tuple[str, ...]
    next_at: datetime | None

    @property
    def due(self) -> int:
        return len(self.granted) + len(self.waiting)


def due_now(
    plans: dict[str, Plan], user_ids: Iterable[str], now: datetime, policy: PollPolicy
) -> Decision:
    """Users to poll now: due, not in flight, within the window's budget, most overdue first
    (never polled first of all).

    Polls granted in the last RATE_WINDOW (their `requested_at`) use up the budget, so ticks
    share one rolling window the way Spotify counts it.
    """
    recent = sum(
        1
        for p in plans.values()
        if p.requested_at is not None and now - p.requested_at < RATE_WINDOW
    )
    budget = max(0, policy.requests_per_window - recent)
    due: list[tuple[datetime, str]] = []
    flying: list[str] = []
    upcoming: list[datetime] = []
    for user_id in sorted(set(user_ids)):
        plan = plans.get(user_id)
        if plan is not None and plan.in_flight(now, policy):
            flying.append(user_id)
            continue
        when = plan.next_poll_at if plan is not None else datetime.min.replace(tzinfo=UTC)
        if when <= now:
            due.append((when, user_id))
        else:
            upcoming.append(when)
    due.sort()
    granted = tuple(u for _, u in due[:budget])
    waiting = tuple(u for _, u in due[budget:])
    next_at = now if waiting else min(upcoming, default=None)
    return Decision(granted, waiting, tuple(flying), next_at)


def requested(plan: Plan | None, user_id: str, now: datetime) -> Plan:
    """The plan once the sensor asked a run to poll the user."""
    base = plan if plan is not None else new_plan(user_id, now)
    return replace(base, requested_at=now)
