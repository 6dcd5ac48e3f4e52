"""The plan store: plans survive a restart (a new store on the same file), a grant is decided
and recorded in one transaction (concurrent ticks never grant one poll twice), and removed
users' plans go."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from spotify_assets.lib.polling import PollOutcome, PollPolicy, after_poll, new_plan
from spotify_assets.lib.polling.store import PlanStore

NOW = datetime(2026, 2, 1, 9, tzinfo=UTC)


def test_plans_survive_a_restart(tmp_path) -> None:
    store = PlanStore(tmp_path)
    page = [NOW - timedelta(minutes=3 * k) for k in range(20)]
    plan = after_poll(new_plan("ana", NOW), PollOutcome(page, 20, 2, False, 1), "Asia/Tokyo",
                      NOW, PollPolicy())
    store.save(plan)
    again = PlanStore(tmp_path)  # as after a restart
    assert again.get("ana") == plan and again.load() == {"ana": plan}
    assert again.get("bob") is None


def test_a_grant_is_recorded_with_the_decision(tmp_path) -> None:
    store = PlanStore(tmp_path)
    policy = PollPolicy(requests_per_window=3)
    users = [f"user{i}" for i in range(10)]

    def tick(_: int):
        return store.grant(users, NOW, policy).granted

    with ThreadPoolExecutor(max_workers=4) as pool:
        grants = [u for granted in pool.map(tick, range(8)) for u in granted]
    # One window's budget, each user at most once, however the ticks interleave.
    assert len(grants) == 3 and len(set(grants)) == 3
    plans = store.load()
    assert {u for u, p in plans.items() if p.requested_at == NOW} == set(grants)


def test_update_reads_and_writes_one_plan(tmp_path) -> None:
    store = PlanStore(tmp_path)
    store.grant(["ana"], NOW, PollPolicy())
    later = NOW + timedelta(minutes=1)
    updated = store.update("ana", lambda p: after_poll(p or new_plan("ana", later),
                                                       PollOutcome([], 0, 0, False), "UTC",
                                                       later, PollPolicy()))
    assert updated.requested_at == NOW and updated.last_attempt_at == later
    assert not updated.in_flight(later, PollPolicy())
    assert store.get("ana") == updated


def test_removed_users_plans_are_dropped(tmp_path) -> None:
    store = PlanStore(tmp_path)
    for user in ("ana", "bob", "cy"):
        store.save(new_plan(user, NOW))
    assert store.keep_only(["ana", "cy"]) == 1
    assert store.forget("cy") and not store.forget("cy")
    assert set(store.load()) == {"ana"}


def test_a_failure_streak_and_a_possible_loss_are_recorded_and_kept(tmp_path) -> None:
    """What collection health reads: since when polls fail (set by the first failure, kept by
    the next ones, cleared by a success) and whether the last poll flagged a possible loss."""
    from spotify_assets.lib.polling import after_failure

    store, policy = PlanStore(tmp_path), PollPolicy()
    store.save(new_plan("ana", NOW))
    for hours, status in ((1, "deferred"), (2, "deferred"), (3, "error")):
        store.update("ana", lambda p, h=hours, s=status: after_failure(
            p, s, NOW + timedelta(hours=h), policy, 3600))
    failing = PlanStore(tmp_path).get("ana")  # as after a restart
    assert failing.failing_since == NOW + timedelta(hours=1) and failing.last_status == "error"
    full = [NOW + timedelta(hours=4) - timedelta(minutes=k) for k in range(50)]
    lossy = store.update("ana", lambda p: after_poll(
        p, PollOutcome(full, 50, 0, True), "UTC", NOW + timedelta(hours=4), policy))
    assert lossy.failing_since is None and lossy.last_possible_loss
    clean = store.update("ana", lambda p: after_poll(
        p, PollOutcome(full[:1], 1, 0, False), "UTC", NOW + timedelta(hours=5), policy))
    assert not clean.last_possible_loss and clean.possible_losses == 1
    # A plan stored before these fields existed reads as "not failing, no loss".
    legacy = new_plan("bob", NOW).to_json()
    del legacy["failing_since"], legacy["last_possible_loss"]
    from spotify_assets.lib.polling import Plan

    assert Plan.from_json(legacy).failing_since is None
