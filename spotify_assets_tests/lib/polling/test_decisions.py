"""The poll plan's decisions (lib/polling/), pure: the model is taught by the same
`after_poll` the poll calls, from synthetic listening whose pace and hours are known, and each
expectation is computed from that listening, not read back from the code.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from spotify_assets.lib.polling import (
    LATE_PRIOR,
    LATE_PRIOR_HALF_LIFE_DAYS,
    NIGHT,
    RATE_WINDOW,
    REACHABLE,
    TARGET,
    Plan,
    PollOutcome,
    PollPolicy,
    RateModel,
    after_failure,
    after_poll,
    busiest,
    due_now,
    new_plan,
    next_poll,
    requested,
)

START = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday
POLICY = PollPolicy()
BERLIN = "Europe/Berlin"


def listening(days: int, hours: tuple[int, int], every: timedelta, zone: str) -> list[datetime]:
    """A play every `every` from local hours[0] to hours[1], each day."""
    tz = ZoneInfo(zone)
    plays = []
    for day in range(days):
        local = datetime(2026, 1, 5, tzinfo=tz) + timedelta(days=day)
        moment = local + timedelta(hours=hours[0])
        while moment < local + timedelta(hours=hours[1]):
            plays.append(moment.astimezone(UTC))
            moment += every
    return plays


def taught(plays: list[datetime], until: datetime, zone: str, step=timedelta(hours=1)) -> Plan:
    """The plan after hourly polls of `plays` (each poll sees the newest 50 up to then)."""
    plan = new_plan("u", START)
    seen: set[datetime] = set()
    now = START
    while now <= until:
        page = sorted((p for p in plays if p <= now), reverse=True)[:REACHABLE]
        new = [p for p in page if p not in seen]
        seen.update(new)
        outcome = PollOutcome(page, len(new), 0, False)
        plan = after_poll(plan, outcome, zone, now, POLICY)
        now += step
    return plan


def test_busiest_counts_plays_in_a_sliding_window() -> None:
    base = START
    plays = [base + timedelta(minutes=m) for m in (0, 10, 50, 65, 69, 70, 200)]
    assert busiest(plays, timedelta(hours=1)) == 4  # 10, 50, 65, 69: [10, 70) is half-open
    assert busiest(plays, timedelta(hours=2)) == 6
    assert busiest([], timedelta(hours=1)) == 0


def test_a_regular_listener_is_polled_every_40_plays_and_not_at_night() -> None:
    # A play every 3 minutes (20 an hour), 07:00-23:00 Berlin time, for three weeks.
    plays = listening(21, (7, 23), timedelta(minutes=3), BERLIN)
    until = START + timedelta(days=20, hours=12)  # 13:00 Berlin, mid-session
    plan = taught(plays, until, BERLIN)
    model = plan.model
    assert model.peak == 20 and model.peak2 == 40  # sliding 1 h / 2 h: 20 and 40 plays
    pace = max(40 / 2, 20 * TARGET / REACHABLE)
    assert model.pace(until, POLICY) == pace
    # In a session: the next poll when 40 plays could have accrued at that pace.
    assert plan.next_poll_at - until == pytest.approx(timedelta(hours=TARGET / pace),
                                                      abs=timedelta(seconds=1))
    # No listening 00:00-06:00 local, and none within an hour of 00:00-05:59: quiet.
    assert model.quiet_hours(until, POLICY) == frozenset(range(0, 6))
    # After the last play of the day, idle: the next poll is when their day starts plus
    # 40 plays at their pace (the quiet hours count 1 play an hour), not every 2 h all night.
    night = START + timedelta(days=20, hours=22, minutes=30)  # 23:30 Berlin, idle
    when, why = next_poll(model, BERLIN, night, plays[-1] if plays[-1] < night else None,
                          POLICY)
    local = when.astimezone(ZoneInfo(BERLIN))
    assert "quiet hours" in why
    assert when - night <= POLICY.max_interval
    assert local.hour in (5, 6) or when - night == POLICY.max_interval


def test_listening_at_odd_hours_leaves_only_the_small_hours_quiet() -> None:
    # Day sessions 07-10 and 19-23, and on two days an afternoon binge 12-17: the gap between
    # 10 and 19 is where binges start, so it is not quiet; the night still is.
    plays = listening(21, (7, 10), timedelta(minutes=3), BERLIN)
    plays += listening(21, (19, 23), timedelta(minutes=3), BERLIN)
    tz = ZoneInfo(BERLIN)
    for day in (3, 11):
        local = datetime(2026, 1, 5, 12, tzinfo=tz) + timedelta(days=day)
        plays += [(local + timedelta(minutes=3 * k)).astimezone(UTC) for k in range(100)]
    plays.sort()
    until = START + timedelta(days=20, hours=12)
    quiet = taught(plays, until, BERLIN).model.quiet_hours(until, POLICY)
    assert quiet and quiet <= NIGHT
    # The same user without the binges: the afternoon gap is quiet too (the longest run).
    regular = [p for p in plays if p.astimezone(tz).hour < 10 or p.astimezone(tz).hour >= 19]
    quiet_regular = taught(regular, until, BERLIN).model.quiet_hours(until, POLICY)
    assert set(range(11, 18)) <= quiet_regular


def test_a_new_user_is_planned_at_the_cold_pace_everywhere() -> None:
    plays = listening(2, (7, 9), timedelta(minutes=3), BERLIN)
    until = START + timedelta(hours=8)
    plan = taught(plays, until, BERLIN)
    assert plan.model.cold(until, POLICY)
    assert plan.model.quiet_hours(until, POLICY) == frozenset()
    assert plan.next_poll_at - until == pytest.approx(
        timedelta(hours=TARGET / POLICY.cold_rate), abs=timedelta(seconds=1)
    )
    # Two weeks in, a user still learning: quiet only in the small hours.
    later = START + timedelta(days=5)
    learning = taught(listening(6, (7, 23), timedelta(minutes=3), BERLIN), later, BERLIN)
    assert learning.model.learning(later, POLICY)
    assert learning.model.quiet_hours(later, POLICY) <= NIGHT


def _silent_poll(plan: Plan, plays: list[datetime], now: datetime, late: int = 0,
                 late_above: int = 0) -> Plan:
    """`plan` after a poll at `now` that returns the newest 50 of `plays` (`late` of them new
    and late, landed under `late_above` known ones)."""
    page = sorted((p for p in plays if p <= now), reverse=True)[:REACHABLE]
    outcome = PollOutcome(page, late, late, False, late_above=late_above)
    return after_poll(plan, outcome, BERLIN, now, POLICY)


def _target(room: float) -> int:
    return max(10, round((REACHABLE - room) * TARGET / REACHABLE))


def test_a_user_with_no_late_history_keeps_room_for_one_while_silent() -> None:
    # Three days of 07:00-23:00 Berlin, a play every 3 minutes: warm, never a late play.
    plays = listening(3, (7, 23), timedelta(minutes=3), BERLIN)
    mid = START + timedelta(days=2, hours=12)  # 13:00 Berlin, mid-session
    plan = taught(plays, mid, BERLIN)
    # Playing on with no gap: nothing can be waiting on a phone, the full target.
    assert not plan.model.cold(mid, POLICY) and plan.backlog == 0
    assert f"{TARGET} plays" in plan.reason
    # The next day they play nothing: by 13:00 hours of their usual listening went unheard,
    # far more than the prior, so the poll keeps the prior's room (it fades as days go by).
    silent = START + timedelta(days=3, hours=12)
    plan = _silent_poll(plan, plays, silent)
    prior = LATE_PRIOR * 0.5 ** (3.5 / LATE_PRIOR_HALF_LIFE_DAYS)  # watched since START
    assert plan.backlog == pytest.approx(prior)
    assert plan.model.target(plan.backlog) == _target(prior) < TARGET
    assert f"room for {prior:.0f} late" in plan.reason
    # While cold (a first day) the cold pace is the room: none is added.
    cold = taught(plays, START + timedelta(hours=12), BERLIN)
    cold = _silent_poll(cold, plays[:10], START + timedelta(hours=16))
    assert cold.model.cold(START + timedelta(hours=16), POLICY) and cold.backlog == 0


def test_a_batch_larger_than_any_before_raises_the_room() -> None:
    plays = listening(21, (7, 23), timedelta(minutes=3), BERLIN)
    mid = START + timedelta(days=20, hours=12)
    plan = taught(plays, mid, BERLIN)  # the prior has faded: three weeks without late plays
    # 12 plays land late at a poll mid-session: no gap, no room yet, but the plan learns.
    plan = _silent_poll(plan, plays, mid + timedelta(minutes=30), late=12)
    assert plan.late_synced == 12 and plan.backlog == 0
    # Then three hours of silence in the afternoon (usual hours, 20 plays an hour could go
    # unheard): room for twice the largest batch (two offline sessions can sync as one).
    gone = [p for p in plays if p <= mid + timedelta(minutes=30)]
    silent = mid + timedelta(hours=3, minutes=30)
    plan = _silent_poll(plan, gone, silent)
    room = 2 * plan.model.late_batch  # 12, aged by the late half-life
    assert plan.backlog == pytest.approx(room) and room == pytest.approx(24, abs=0.1)
    assert plan.model.target(plan.backlog) == _target(room)
    # A batch of 17 (larger than any before) raises it: 34 plays of room, target 13.
    plan = _silent_poll(plan, gone, silent + timedelta(minutes=5), late=17)
    later = silent + timedelta(hours=2)
    plan = _silent_poll(plan, gone, later)
    assert plan.backlog == pytest.approx(2 * 17, abs=0.1)
    assert plan.model.target(plan.backlog) == _target(34) == 13


def test_a_batch_may_land_under_the_owners_first_play_back() -> None:
    plays = listening(21, (7, 23), timedelta(minutes=3), BERLIN)
    mid = START + timedelta(days=20, hours=12)
    plan = taught(plays, mid, BERLIN)
    plan = _silent_poll(plan, plays, mid + timedelta(minutes=30), late=10)
    gone = [p for p in plays if p <= mid + timedelta(minutes=30)]
    back = mid + timedelta(hours=3)
    # One play after a 2.5-hour silence: a batch from it would land under that play.
    one = _silent_poll(plan, [*gone, back - timedelta(minutes=1)], back)
    assert one.backlog == pytest.approx(1 + 2 * one.model.late_batch)
    # Three plays back: deeper than any batch has landed (none seen deeper than 1): no room.
    three = [*gone, *(back - timedelta(minutes=m) for m in (1, 4, 7))]
    assert _silent_poll(plan, three, back).backlog == 0
    # Once a batch landed under 2 known plays, the plan looks twice as deep.
    deeper = _silent_poll(plan, gone, mid + timedelta(minutes=40), late=10, late_above=2)
    assert _silent_poll(deeper, three, back).backlog == pytest.approx(
        3 + 2 * deeper.model.late_batch, abs=0.1
    )


def test_a_possible_loss_polls_again_after_about_20_plays() -> None:
    plan = new_plan("u", START)
    now = START + timedelta(hours=5)
    page = [now - timedelta(minutes=2 * k) for k in range(REACHABLE)]  # 50 in 98 min
    plan = after_poll(plan, PollOutcome(page, 50, 0, True), BERLIN, now, POLICY)
    pace = REACHABLE / (98 / 60)
    assert plan.next_poll_at - now == pytest.approx(timedelta(hours=20 / pace),
                                                    abs=timedelta(seconds=1))
    assert plan.possible_losses == 1 and plan.reason.startswith("possible loss")


def test_failures_wait_for_retry_after_or_back_off() -> None:
    plan = new_plan("u", START)
    limited = after_failure(plan, "deferred", START, POLICY, retry_after_s=900)
    assert limited.next_poll_at == START + timedelta(seconds=900)
    first = after_failure(plan, "error", START, POLICY, None)
    assert first.next_poll_at == START + POLICY.error_backoff
    again = after_failure(first, "error", START, POLICY, None)
    assert again.next_poll_at == START + 4 * POLICY.error_backoff
    assert first.model == plan.model and first.polls == 0


def test_due_users_share_the_window_most_overdue_first() -> None:
    policy = PollPolicy(requests_per_window=2)
    now = START
    plans = {
        "a": Plan("a", now - timedelta(minutes=5), ""),
        "b": Plan("b", now - timedelta(minutes=30), ""),
        "c": Plan("c", now - timedelta(minutes=1), ""),
        "d": Plan("d", now + timedelta(minutes=7), ""),
    }
    decision = due_now(plans, ["a", "b", "c", "d", "e"], now, policy)
    # "e" was never polled: first; then the most overdue.
    assert decision.granted == ("e", "b") and decision.waiting == ("a", "c")
    assert decision.due == 4 and decision.next_at == now
    for user in decision.granted:
        plans[user] = requested(plans.get(user), user, now)
    # Within the same 30 s window the budget is spent; in flight users are not due again.
    soon = now + RATE_WINDOW / 2
    assert due_now(plans, plans, soon, policy).granted == ()
    assert set(due_now(plans, plans, soon, policy).in_flight) == {"e", "b"}
    later = now + RATE_WINDOW
    assert due_now(plans, plans, later, policy).granted == ("a", "c")
    # A poll that never reported back is due again after the timeout.
    stale = now + POLICY.request_timeout + timedelta(seconds=1)
    overdue = due_now(plans, plans, stale, policy)
    assert "e" in overdue.granted + overdue.waiting and not overdue.in_flight


def test_users_in_an_overloaded_window_are_served_in_turn() -> None:
    """Five users want a poll every minute; one poll per 30 s window serves two a minute.
    Most overdue first, everyone is served in turn and waits the same bounded time (a fixed
    order would starve the last ones)."""
    policy = PollPolicy(
        min_interval=timedelta(minutes=1),
        max_interval=timedelta(minutes=1),
        requests_per_window=1,
    )
    users = [f"heavy_{c}" for c in "abcde"]
    plans: dict[str, Plan] = {}
    polled: dict[str, list[tuple[datetime, datetime]]] = {u: [] for u in users}
    now = START
    for _ in range(240):  # two hours of 30-second ticks
        for user in due_now(plans, users, now, policy).granted:
            due = plans[user].next_poll_at if user in plans else now
            polled[user].append((due, now))
            page = [now - timedelta(minutes=2 * k) for k in range(REACHABLE)]
            plan = requested(plans.get(user), user, now)
            plans[user] = after_poll(plan, PollOutcome(page, 30, 0, False), BERLIN, now, policy)
        now += RATE_WINDOW
    counts = [len(polls) for polls in polled.values()]
    assert max(counts) - min(counts) <= 1  # 240 polls, 48 each
    # In turn: one poll a tick, so a user polled now is polled again five ticks later.
    cycle = len(users) * RATE_WINDOW
    for user, polls in polled.items():
        assert max(done - due for due, done in polls) <= cycle - policy.min_interval, user


def test_plan_round_trips_through_json() -> None:
    plan = taught(listening(3, (7, 9), timedelta(minutes=3), BERLIN), START + timedelta(days=2),
                  BERLIN)
    assert Plan.from_json(plan.to_json()) == plan
    assert RateModel.from_json({}) == RateModel()
