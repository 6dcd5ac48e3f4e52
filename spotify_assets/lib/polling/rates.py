"""The rate model and the next poll time of one user (see the package docstring)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

REACHABLE = 50  # plays recently-played keeps
TARGET = 40  # a poll comes before this many new plays could have accrued
MIN_TARGET = 10
LOSS_REPOLL_PLAYS = 20  # after a possible loss: poll again after about this many plays
RATE_WINDOW = timedelta(seconds=30)  # Spotify's rolling rate-limit window
ACTIVE_WITHIN = timedelta(minutes=20)
QUIET_RATE = 1.0  # plays per hour counted in quiet hours
QUIET_RUN = 3  # hours: a shorter gap between sessions is not quiet
QUIET_MARGIN = 1  # hours next to one with listening count as usual: habits jitter
USUAL_WEIGHT = 0.3  # one day with a play in an hour keeps it usual for ~5 weeks
DAILY_SHARE = 0.25  # an hour is daily when its weight is >= this share of the top hour's
NIGHT = frozenset(range(1, 6))  # local 01:00-06:00: the small hours
COLD_PLAYS = 100  # plays seen before a user's own pace is trusted...
COLD_MAX = timedelta(days=7)  # ...or this long, for light listeners
PEAK_HALF_LIFE_DAYS = 30.0
HOURS_HALF_LIFE_DAYS = 21.0
LATE_HALF_LIFE_DAYS = 30.0
# A late batch lands with its real past `played_at`: the plan keeps room for one in the
# stretches where Spotify heard nothing from the user (see `backlog`).
LATE_PRIOR = 15.0  # plays: the batch assumed of a user who has not shown one...
LATE_PRIOR_HALF_LIFE_DAYS = 1.5  # ...fading while they are watched and show none
LATE_DEPTH = 1  # known plays a batch may land under (the owner back online) until one is seen
LATE_FACTOR = 2.0  # a batch may be this much larger, and land this much deeper, than seen
SILENT_GAP = timedelta(minutes=15)  # a shorter gap between known plays hides no session
STEP = timedelta(minutes=5)  # resolution of the accrual integral


@dataclass(frozen=True)
class PollPolicy:
    """The knobs (settings `SPOTIFY_ASSETS_POLL_*`, see `policy_from`)."""

    min_interval: timedelta = timedelta(minutes=2)
    max_interval: timedelta = timedelta(hours=6)
    requests_per_window: int = 30
    cold_rate: float = 30.0  # plays/h (a 2-minute play) before a user's pace is known
    cold_for: timedelta = timedelta(days=1)
    learn_for: timedelta = timedelta(days=14)
    # A requested poll that never reported back (run lost, process killed) is due again.
    request_timeout: timedelta = timedelta(minutes=15)
    error_backoff: timedelta = timedelta(minutes=5)

    def __post_init__(self) -> None:
        if not timedelta(0) < self.min_interval <= self.max_interval:
            raise ValueError("poll intervals need 0 < min_interval <= max_interval")
        if self.requests_per_window < 1:
            raise ValueError("requests_per_window must be >= 1")


def policy_from(settings: object) -> PollPolicy:
    """The policy of a `Settings` object (duck-typed: lib modules do not import each other's
    heavy parts)."""
    return PollPolicy(
        min_interval=timedelta(minutes=settings.poll_min_minutes),  # type: ignore[attr-defined]
        max_interval=timedelta(minutes=settings.poll_max_minutes),  # type: ignore[attr-defined]
        requests_per_window=settings.poll_requests_per_window,  # type: ignore[attr-defined]
    )


@dataclass
class RateModel:
    """What one user's plays taught the plan; JSON via `to_json`/`from_json`."""

    peak: float = 0.0  # most plays in any sliding hour
    peak2: float = 0.0  # most plays in any sliding two hours
    late_batch: float = 0.0  # most late-synced plays one poll caught
    late_above: float = 0.0  # most known plays a late batch landed under
    hours: list[float] = field(default_factory=lambda: [0.0] * 24)
    hour_last_day: list[str] = field(default_factory=lambda: [""] * 24)
    decayed_at: datetime | None = None
    since: datetime | None = None
    plays_seen: int = 0

    def to_json(self) -> dict:
        return {
            "peak": self.peak,
            "peak2": self.peak2,
            "late_batch": self.late_batch,
            "late_above": self.late_above,
            "hours": list(self.hours),
            "hour_last_day": list(self.hour_last_day),
            "decayed_at": to_iso(self.decayed_at),
            "since": to_iso(self.since),
            "plays_seen": self.plays_seen,
        }

    @classmethod
    def from_json(cls, data: dict) -> RateModel:
        return cls(
            peak=float(data.get("peak", 0.0)),
            peak2=float(data.get("peak2", 0.0)),
            late_batch=float(data.get("late_batch", 0.0)),
            late_above=float(data.get("late_above", 0.0)),
            hours=[float(h) for h in data.get("hours", [0.0] * 24)],
            hour_last_day=[str(d) for d in data.get("hour_last_day", [""] * 24)],
            decayed_at=from_iso(data.get("decayed_at")),
            since=from_iso(data.get("since")),
            plays_seen=int(data.get("plays_seen", 0)),
        )

    def decayed(self, now: datetime) -> RateModel:
        """A copy aged to `now`."""
        copy = replace(self, hours=list(self.hours), hour_last_day=list(self.hour_last_day))
        if self.decayed_at is None or now <= self.decayed_at:
            return copy
        days = (now - self.decayed_at).total_seconds() / 86400

        def age(value: float, half_life: float) -> float:
            return value * 0.5 ** (days / half_life)

        copy.peak = age(self.peak, PEAK_HALF_LIFE_DAYS)
        copy.peak2 = age(self.peak2, PEAK_HALF_LIFE_DAYS)
        copy.late_batch = age(self.late_batch, LATE_HALF_LIFE_DAYS)
        copy.late_above = age(self.late_above, LATE_HALF_LIFE_DAYS)
        copy.hours = [age(h, HOURS_HALF_LIFE_DAYS) for h in self.hours]
        copy.decayed_at = now
        return copy

    def cold(self, now: datetime, policy: PollPolicy) -> bool:
        """Too young to know the user's pace: under `cold_for` old, or fewer than COLD_PLAYS
        plays seen (for at most COLD_MAX)."""
        if self.since is None:
            return True
        age = now - self.since
        return age < policy.cold_for or (self.plays_seen < COLD_PLAYS and age < COLD_MAX)

    def learning(self, now: datetime, policy: PollPolicy) -> bool:
        """Too young to trust a quiet run outside the small hours."""
        return self.since is None or now - self.since < policy.learn_for

    def pace(self, now: datetime, policy: PollPolicy) -> float:
        """Plays per hour to plan for (see the module docstring)."""
        floor = policy.cold_rate if self.cold(now, policy) else QUIET_RATE
        return max(self.peak2 / 2, self.peak * TARGET / REACHABLE, floor)

    def late_room(self, now: datetime, policy: PollPolicy) -> float:
        """The most plays one late sync may bring: LATE_FACTOR times the largest batch seen
        (two offline sessions can sync as one). Before any, a prior that fades while the user
        is watched and shows none; none while cold, when the cold pace (a 2-minute play) is
        already far above a real listener's and leaves the room."""
        prior = 0.0
        if self.since is not None and not self.cold(now, policy):
            watched = (now - self.since).total_seconds() / 86400
            prior = LATE_PRIOR * 0.5 ** (watched / LATE_PRIOR_HALF_LIFE_DAYS)
        return max(prior, LATE_FACTOR * self.late_batch)

    def late_depth(self) -> float:
        """How many known plays a late batch may land under: LATE_FACTOR times the most seen
        (the owner back online before the phone syncs), at least LATE_DEPTH."""
        return max(float(LATE_DEPTH), LATE_FACTOR * self.late_above)

    def target(self, backlog: float = 0.0) -> int:
        """New plays a poll may let accrue: TARGET, less the room a late batch needs (the
        plays it could land under, `backlog`)."""
        return max(MIN_TARGET, round((REACHABLE - backlog) * TARGET / REACHABLE))

    def quiet_hours(self, now: datetime, policy: PollPolicy) -> frozenset[int]:
        """The local hours in which the plan expects no listening (see the module docstring):
        the longest run of >= QUIET_RUN hours with no listening within QUIET_MARGIN hours;
        only its small hours (NIGHT) while learning or for a user who listened at odd hours
        (far from every hour they listen in on most days). None while cold."""
        if self.cold(now, policy):
            return frozenset()
        top = max(self.hours)
        if top < USUAL_WEIGHT:
            # Nothing for weeks: every hour is quiet (after learning), a poll per max_interval.
            return NIGHT if self.learning(now, policy) else frozenset(range(24))
        seen = [h >= USUAL_WEIGHT for h in self.hours]
        daily = [h >= DAILY_SHARE * top for h in self.hours]
        near_daily = _widen(daily)
        irregular = any(s and not d for s, d in zip(seen, near_daily, strict=True))
        runs = _runs([not usual for usual in _widen(seen)])
        if irregular or self.learning(now, policy):
            runs = [[h for h in run if h in NIGHT] for run in runs]
        best = max(runs, key=len, default=[])
        return frozenset(best) if len(best) >= QUIET_RUN else frozenset()


def _widen(flags: list[bool]) -> list[bool]:
    return [
        any(flags[(h + k) % 24] for k in range(-QUIET_MARGIN, QUIET_MARGIN + 1))
        for h in range(24)
    ]


def _runs(flags: list[bool]) -> list[list[int]]:
    """Maximal runs of consecutive True hours around the 24-hour circle."""
    if all(flags):
        return [list(range(24))]
    start = flags.index(False)
    runs: list[list[int]] = []
    run: list[int] = []
    for step in range(1, 25):
        hour = (start + step) % 24
        if flags[hour]:
            run.append(hour)
        elif run:
            runs.append(run)
            run = []
    if run:
        runs.append(run)
    return runs


@dataclass(frozen=True)
class PollOutcome:
    """What one successful poll saw: `played_at` of every returned play; `new` how many we
    did not have; `late` how many of those had ended before the previous poll (Spotify got
    them late); `late_above` how many plays we already had are newer than the oldest late
    one (what the late batch landed under)."""

    played_at: Sequence[datetime]
    new: int
    late: int
    possible_loss: bool
    late_above: int = 0


def observe(model: RateModel, outcome: PollOutcome, timezone: str, now: datetime) -> RateModel:
    """The model after a poll: pace from the returned plays, hours and late room from what was
    new."""
    model = model.decayed(now)
    if model.since is None:
        model.since = now
    model.decayed_at = now
    model.plays_seen += outcome.new
    model.peak = max(model.peak, float(busiest(outcome.played_at, timedelta(hours=1))))
    model.peak2 = max(model.peak2, float(busiest(outcome.played_at, timedelta(hours=2))))
    model.late_batch = max(model.late_batch, float(outcome.late))
    model.late_above = max(model.late_above, float(outcome.late_above))
    zone = ZoneInfo(timezone)
    # Every returned play is offered: a local hour counts once per local day.
    for played in outcome.played_at:
        local = played.astimezone(zone)
        day = local.date().isoformat()
        if model.hour_last_day[local.hour] < day:
            model.hour_last_day[local.hour] = day
            model.hours[local.hour] += 1.0
    return model


def busiest(played_at: Iterable[datetime], window: timedelta) -> int:
    """The most plays within any half-open sliding `window`."""
    times = sorted(played_at)
    best, low = 0, 0
    for high, moment in enumerate(times):
        while moment - times[low] >= window:
            low += 1
        best = max(best, high - low + 1)
    return best


def backlog(
    model: RateModel,
    played_at: Sequence[datetime],
    timezone: str,
    now: datetime,
    policy: PollPolicy,
) -> float:
    """The plays a late batch could bring to the next poll besides that interval's own new
    plays: room the next poll must keep (`RateModel.target`).

    An offline device's plays can only sit where Spotify heard nothing from the user: in a
    silent stretch (a gap of >= SILENT_GAP between the known plays `played_at`, or since the
    newest of them). A batch from a stretch lands under the known plays newer than it, with
    what the user could have played unheard in that stretch and every newer one: accrued at
    their pace and hours, as a poll interval is, and at most `late_room`. Only stretches under
    at most `late_depth` known plays count (a phone syncs when its owner is back, not after
    hours of listening elsewhere); the worst counts, and never more than leaves MIN_TARGET.
    """
    limit = REACHABLE * (1 - MIN_TARGET / TARGET)
    cap = model.late_room(now, policy)
    depth = model.late_depth()
    pace = model.pace(now, policy)
    quiet = model.quiet_hours(now, policy)
    zone = ZoneInfo(timezone)
    edges = [now, *sorted((t for t in played_at if t <= now), reverse=True)]
    unheard = worst = 0.0
    for known, (newer, older) in enumerate(pairwise(edges)):
        if known > depth:
            break
        if newer - older >= SILENT_GAP:
            unheard += _accrual(pace, quiet, zone, older, newer, cap - unheard)
            worst = max(worst, known + min(cap, unheard))
    return min(worst, limit)


def _accrual(
    pace: float, quiet: frozenset[int], zone: ZoneInfo, start: datetime, end: datetime,
    enough: float,
) -> float:
    """Plays that could accrue from `start` to `end` (QUIET_RATE in quiet hours), counted
    only up to `enough`."""
    accrued, moment = 0.0, start
    while moment < end and accrued < enough:
        step = min(STEP, end - moment)
        rate = QUIET_RATE if moment.astimezone(zone).hour in quiet else pace
        accrued += rate * step.total_seconds() / 3600
        moment += step
    return accrued


def next_poll(
    model: RateModel,
    timezone: str,
    now: datetime,
    last_play_at: datetime | None,
    policy: PollPolicy,
    backlog: float = 0.0,
) -> tuple[datetime, str]:
    """When `model.target(backlog)` new plays could have accrued, within the interval bounds;
    and why, in words."""
    pace = model.pace(now, policy)
    target = model.target(backlog)
    active = last_play_at is not None and now - last_play_at <= ACTIVE_WITHIN
    quiet = frozenset() if active else model.quiet_hours(now, policy)
    zone = ZoneInfo(timezone)
    accrued, moment, quiet_steps = 0.0, now, 0
    while moment - now < policy.max_interval:
        in_quiet = moment.astimezone(zone).hour in quiet
        quiet_steps += in_quiet
        gained = (QUIET_RATE if in_quiet else pace) * STEP.total_seconds() / 3600
        if accrued + gained >= target:
            moment += STEP * ((target - accrued) / gained)
            break
        accrued += gained
        moment += STEP
    moment = min(max(moment, now + policy.min_interval), now + policy.max_interval)
    plays = f"{target} plays at {pace:.0f}/h"
    if backlog > 0:
        plays += f", room for {backlog:.0f} late"
    if model.cold(now, policy):
        why = f"new, pace unknown: {plays}"
    elif active:
        why = f"in a session: {plays}"
    elif quiet_steps:
        why = f"quiet hours, then {plays}"
    else:
        why = f"usual hours: {plays}"
    if moment - now >= policy.max_interval:
        why += " (max interval)"
    return moment, why


def to_iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def from_iso(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
