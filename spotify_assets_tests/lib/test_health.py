"""Collection health rules, one listener at a time, at fixed moments (lib/health.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from spotify_assets.lib.health import evaluate, judge_user
from spotify_assets.lib.polling import Plan, PollPolicy, after_failure, new_plan
from spotify_assets.lib.settings import load_settings
from spotify_assets.lib.users.model import User

NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)
SETTINGS = load_settings()


def _user(status: str = "active", enrolled: timedelta = timedelta(days=30)) -> User:
    return User(id="some_user", display_name="x", timezone="UTC", enrolled_at=NOW - enrolled,
                status=status, opt_ins=frozenset(), handle="l-0000abcd")


def _polled(ago: timedelta, next_in: timedelta, **changes) -> Plan:
    plan = new_plan("some_user", NOW - ago)
    return Plan(**{**plan.__dict__, "last_poll_at": NOW - ago, "next_poll_at": NOW + next_in,
                   "last_status": "ok", **changes})


def test_a_listener_polled_on_plan_is_green_even_after_a_long_planned_wait() -> None:
    assert judge_user(_user(), _polled(timedelta(hours=1), timedelta(hours=1)), NOW, SETTINGS).ok
    # Idle for weeks: the plan waits 6 h on purpose; a poll due 10 min ago is not a stall.
    waiting = _polled(timedelta(hours=6, minutes=10), -timedelta(minutes=10))
    assert judge_user(_user(), waiting, NOW, SETTINGS).ok


def test_each_rule_turns_a_listener_red_and_says_what_to_do() -> None:
    overdue = _polled(timedelta(hours=7), -timedelta(hours=1))
    assert set(judge_user(_user(), overdue, NOW, SETTINGS).problems) == {"stale"}
    never = judge_user(_user(enrolled=timedelta(hours=7)), None, NOW, SETTINGS)
    assert "never polled" in never.problems["stale"]
    assert judge_user(_user(enrolled=timedelta(hours=1)), None, NOW, SETTINGS).ok
    assert set(judge_user(_user("needs_reauth"), _polled(timedelta(minutes=5), timedelta(hours=1)),
                          NOW, SETTINGS).problems) == {"needs_reauth"}
    loss = _polled(timedelta(minutes=5), timedelta(minutes=20), last_possible_loss=True)
    assert set(judge_user(_user(), loss, NOW, SETTINGS).problems) == {"possible_loss"}
    verdict = judge_user(_user(), loss, NOW, SETTINGS)
    assert verdict.describe().startswith("l-0000abcd: ") and "export" in verdict.describe()
    assert "some_user" not in verdict.describe()


def test_deferral_turns_red_only_once_it_lasted_the_grace_period() -> None:
    plan = _polled(timedelta(hours=1), timedelta(0))
    deferred = after_failure(plan, "deferred", NOW - timedelta(minutes=20), PollPolicy(), 3600)
    assert judge_user(_user(), deferred, NOW, SETTINGS).ok  # 20 min < 30 min
    later = after_failure(deferred, "deferred", NOW + timedelta(minutes=15), PollPolicy(), 3600)
    red = judge_user(_user(), later, NOW + timedelta(minutes=15), SETTINGS)
    assert set(red.problems) == {"deferred"} and "0.6 h" in red.problems["deferred"]


def test_paused_and_export_only_listeners_are_not_judged() -> None:
    health = evaluate([_user("paused"), _user("export_only")], {}, NOW, SETTINGS)
    assert health.passed and health.users == [] and health.skipped == 2
