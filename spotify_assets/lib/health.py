"""Collection health: is every listener still being collected? One verdict per enrolled user,
from the user registry (status, enrollment) and their poll plan (last success, failure streak,
possible loss), at a given "now". Pure: no clock, no I/O; `defs/operations/health.py` reads the
stores and reports it as the `collection_health` check.

A user is red when
- they must log in again (`needs_reauth`: Spotify refused their token);
- their pulls have been deferred (a 429 with a long Retry-After, an exhausted quota) for
  `health_deferred_minutes` or more: a 429 storm defers every poll while no poll *fails*;
- their last successful poll flagged a possible loss (50 new plays: older ones may be gone);
- no poll succeeded for `health_stale_hours` (default 6 h; never polled: since enrollment),
  unless the last attempt succeeded and the plan's next poll is at most `DUE_SLACK` overdue
  (a quiet listener's plan may wait up to SPOTIFY_ASSETS_POLL_MAX_MINUTES on purpose).
Paused and export-only listeners are not polled, hence not judged.
Users are named by their handle only (check results outlive `users remove`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from spotify_assets.lib.polling.plans import Plan
from spotify_assets.lib.settings import Settings
from spotify_assets.lib.users.model import User

CHECK_NAME = "collection_health"
# How overdue a planned poll may be before a stale user is a stall rather than a wait: the
# sensor grants due users every 30 s; a queued run may wait for a slot.
DUE_SLACK = timedelta(minutes=15)
JUDGED = ("active", "needs_reauth")

ACTIONS = {
    "needs_reauth": "have the listener log in again: `spotify-assets login` (then "
    "`spotify-assets users list` shows them active)",
    "deferred": "Spotify is rate-limiting this app (429 or quota): nothing to do while it "
    "lasts, polls resume by themselves; if it persists, lower "
    "SPOTIFY_ASSETS_POLL_REQUESTS_PER_WINDOW or check the app's quota on Spotify's dashboard",
    "possible_loss": "plays may have fallen out of recently-played between two polls: import "
    "the listener's privacy export (docs/operations.md, 'Import an export') to fill the gap",
    "stale": "no successful poll for too long: check that the daemon runs and "
    "poll_plan_sensor is on, then read the last poll_job run's `users` table",
}


@dataclass(frozen=True)
class UserHealth:
    handle: str
    status: str  # the registry status
    problems: dict[str, str] = field(default_factory=dict)  # kind -> what is wrong, in words

    @property
    def ok(self) -> bool:
        return not self.problems

    def describe(self) -> str:
        what = "; ".join(self.problems.values())
        todo = " / ".join(ACTIONS[kind] for kind in self.problems)
        return f"{self.handle}: {what}. What to do: {todo}"


def _hours(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 3600:.1f} h"


def judge_user(user: User, plan: Plan | None, now: datetime, settings: Settings) -> UserHealth:
    problems: dict[str, str] = {}
    if user.status == "needs_reauth":
        problems["needs_reauth"] = "must log in again (Spotify refused the token)"
    if plan is not None and plan.last_status == "deferred" and plan.failing_since is not None:
        deferred = now - plan.failing_since
        if deferred >= timedelta(minutes=settings.health_deferred_minutes):
            problems["deferred"] = f"pulls deferred by Spotify for {_hours(deferred)}"
    if plan is not None and plan.last_possible_loss:
        problems["possible_loss"] = "the last poll returned 50 new plays (possible loss)"
    last = plan.last_poll_at if plan is not None else None
    since = last or user.enrolled_at
    age = now - since
    waiting = (
        plan is not None
        and plan.last_status == "ok"
        and now <= plan.next_poll_at + DUE_SLACK
    )
    if age > timedelta(hours=settings.health_stale_hours) and not waiting:
        problems["stale"] = (
            f"no successful poll for {_hours(age)}"
            if last is not None
            else f"never polled since enrollment {_hours(age)} ago"
        )
    return UserHealth(user.handle or "unknown listener", user.status, problems)


@dataclass(frozen=True)
class CollectionHealth:
    users: list[UserHealth]
    skipped: int  # paused or export-only: not polled, not judged

    @property
    def red(self) -> list[UserHealth]:
        return [u for u in self.users if not u.ok]

    @property
    def passed(self) -> bool:
        return not self.red

    def description(self) -> str:
        if self.passed:
            return f"{len(self.users)} listener(s) collected normally"
        return "\n".join(u.describe() for u in self.red)

    def counts(self) -> dict[str, int]:
        kinds: dict[str, int] = {kind: 0 for kind in ACTIONS}
        for user in self.red:
            for kind in user.problems:
                kinds[kind] += 1
        return {"listeners": len(self.users), "red": len(self.red), "not_judged": self.skipped,
                **kinds}


def evaluate(
    users: Iterable[User], plans: Mapping[str, Plan], now: datetime, settings: Settings
) -> CollectionHealth:
    judged, skipped = [], 0
    for user in sorted(users, key=lambda u: u.handle):
        if user.status not in JUDGED:
            skipped += 1
            continue
        judged.append(judge_user(user, plans.get(user.id), now, settings))
    return CollectionHealth(judged, skipped)
