"""The poll plan end to end: `poll_plan_sensor` evaluated with `build_sensor_context` against a
real instance, the runs it requests executed for real (HTTP to the emulator, lake, plan store),
scenario by scenario; one simulated "now" drives the emulator clock, the sensor and the poll.

Covers: one run for every due user then none until their plans say so; a user who must log
in again is not polled and is named; plans survive a restart; a run polls only the users it
is given; late-synced plays are caught, flagged and counted (a world with offline listeners),
and come back flagged from raw; day files from before `late_synced` existed still merge; two
heavy users sharing a tight request window are each polled within one interval of their plan.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest

from spotify_assets.defs.listening import poll as poll_module
from spotify_assets.defs.listening import poll_plan as plan_module
from spotify_assets.defs.listening.plays import plays
from spotify_assets.defs.listening.poll import USERS_CHECK, polled_plays
from spotify_assets.defs.listening.poll_plan import POLL_PLAN, poll_plan, poll_plan_sensor
from spotify_assets.defs.listening.stats import listening_coverage
from spotify_assets.defs.listening.tables import LISTENING_COVERAGE, POLLED_PLAYS
from spotify_assets.defs.operations.rebuild import RebuildReport, replay_polls
from spotify_assets.defs.resources import Warehouse, build_resources
from spotify_assets.emulator.server import EmulatorHandle, running_emulator
from spotify_assets.emulator.world import COUNTED_MS, World, WorldConfig
from spotify_assets.lib.polling.store import PlanStore
from spotify_assets.lib.settings import Settings, load_settings
from spotify_assets.lib.users.login import login
from spotify_assets.lib.users.registry import UserRegistry
from spotify_assets_tests.defs.conftest import DEMO_USERS, Pipeline

RECENT = "GET /v1/me/player/recently-played"


class SimClock:
    """One "now" for the emulator, the sensor and the poll (no real waiting)."""

    def __init__(self, emu: EmulatorHandle) -> None:
        self.emu = emu
        self.now: datetime | None = None

    def set(self, moment: datetime) -> None:
        self.now = moment
        self.emu.state.clock.set(moment)

    def advance(self, delta: timedelta) -> None:
        assert self.now is not None
        self.set(self.now + delta)


def _clock(emu: EmulatorHandle, monkeypatch: pytest.MonkeyPatch) -> SimClock:
    clock = SimClock(emu)
    monkeypatch.setattr(poll_module, "utc_now", lambda: clock.now)
    monkeypatch.setattr(plan_module, "utc_now", lambda: clock.now)
    return clock


def tick(settings: Settings, instance: dg.DagsterInstance) -> dg.SensorResult | dg.SkipReason:
    context = dg.build_sensor_context(instance=instance, resources={"settings": settings})
    return poll_plan_sensor(context)


def run(p: Pipeline, request: dg.RunRequest) -> dg.ExecuteInProcessResult:
    result = p.materialize([polled_plays, poll_plan], run_config=request.run_config)
    assert result.success
    return result


def plan_rows(settings: Settings) -> dict[str, dict]:
    return {r["user_id"]: r for r in Warehouse(settings).scan(POLL_PLAN).to_pylist()}


def handles(settings: Settings, user_ids: list[str]) -> list[str]:
    registry = UserRegistry(settings)
    return [registry.require(u).handle for u in user_ids]


def polled_ids(settings: Settings, request: dg.RunRequest) -> list[str]:
    """The users a poll run request names (by handle: run configs outlive `users remove`)."""
    by_handle = {u.handle: u.id for u in UserRegistry(settings).list()}
    given = request.run_config["ops"]["polled_plays"]["config"]["handles"]
    assert not set(given) & {u.id for u in UserRegistry(settings).list()}
    return sorted(by_handle[h] for h in given)


def test_one_run_for_the_due_users_then_none_until_their_plans_say(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = pipeline
    clock = _clock(p.emulator, monkeypatch)
    clock.set(p.emulator.state.world.end - timedelta(hours=6))
    first = tick(p.settings, p.instance)
    [request] = first.run_requests
    assert polled_ids(p.settings, request) == sorted(DEMO_USERS)
    assert request.tags["spotify_assets/users_due"] == "5"
    # The users just requested are being polled: the next tick asks nothing.
    waiting = tick(p.settings, p.instance)
    assert isinstance(waiting, dg.SkipReason)
    assert "0 of 5 active users due" in waiting.skip_message
    assert "5 being polled" in waiting.skip_message

    p.control("POST", "requests/reset")
    result = run(p, request)
    assert p.control("GET", "requests")["counts"][RECENT] == 5  # one request per user
    metadata = result.asset_materializations_for_node("polled_plays")[0].metadata
    assert metadata["users_polled"].value == 5
    plans = PlanStore(p.settings.state_dir).load()
    assert set(plans) == set(DEMO_USERS)
    assert all(plan.next_poll_at > clock.now for plan in plans.values())

    # The plan table shows every user's next poll and what their polls saw.
    rows = plan_rows(p.settings)
    polled = Warehouse(p.settings).scan(POLLED_PLAYS).to_pylist()
    for user_id, plan in plans.items():
        row = rows[user_id]
        assert row["next_poll_at"] == plan.next_poll_at.replace(
            microsecond=plan.next_poll_at.microsecond // 1000 * 1000
        )
        assert row["reason"] == plan.reason and row["polls"] == 1
        assert row["new_plays"] == sum(1 for r in polled if r["user_id"] == user_id)

    earliest = min(plan.next_poll_at for plan in plans.values())
    idle = tick(p.settings, p.instance)
    assert isinstance(idle, dg.SkipReason) and "0 of 5 active users due" in idle.skip_message
    minutes = (earliest - clock.now).total_seconds() / 60
    assert f"next poll in {minutes:.0f} min" in idle.skip_message

    clock.set(earliest + timedelta(minutes=20))
    due = sorted(u for u, plan in plans.items() if plan.next_poll_at <= clock.now)
    [again] = tick(p.settings, p.instance).run_requests
    assert polled_ids(p.settings, again) == due
    assert again.tags["spotify_assets/users_due"] == str(len(due))


def test_a_user_who_must_log_in_again_is_not_polled_and_is_named(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = pipeline
    clock = _clock(p.emulator, monkeypatch)
    clock.set(p.emulator.state.world.end - timedelta(hours=3))
    p.control("POST", "users/demo_tokyo/revoke")
    [request] = tick(p.settings, p.instance).run_requests
    result = run(p, request)
    [check] = [c for c in result.get_asset_check_evaluations() if c.check_name == USERS_CHECK]
    tokyo = p.registry.require("demo_tokyo").handle
    assert not check.passed and tokyo in check.description
    assert "demo_tokyo" not in check.description  # run history outlives `users remove`
    clock.advance(timedelta(hours=8))  # everyone is due again
    later = tick(p.settings, p.instance)
    [request] = later.run_requests
    assert polled_ids(p.settings, request) == sorted(set(DEMO_USERS) - {"demo_tokyo"})
    again = tick(p.settings, p.instance)
    assert f"must log in again: {tokyo}" in again.skip_message
    rows = plan_rows(p.settings)
    assert rows["demo_tokyo"]["user_status"] == "needs_reauth"
    assert rows["demo_tokyo"]["next_poll_at"] is None


def test_plans_survive_a_restart(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    p = pipeline
    clock = _clock(p.emulator, monkeypatch)
    clock.set(p.emulator.state.world.end - timedelta(hours=5))
    [request] = tick(p.settings, p.instance).run_requests
    run(p, request)
    before = tick(p.settings, p.instance)
    # A new process: settings read again, a new instance, a new registry and store.
    settings = load_settings(**{k: getattr(p.settings, k) for k in type(p.settings).model_fields})
    with dg.instance_for_test() as instance:
        after = tick(settings, instance)
    assert isinstance(after, dg.SkipReason) and after.skip_message == before.skip_message
    assert "0 of 5 active users due" in after.skip_message


def test_a_run_polls_only_the_users_it_is_given(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = pipeline
    clock = _clock(p.emulator, monkeypatch)
    clock.set(p.emulator.state.world.end - timedelta(hours=2))
    p.registry.pause("demo_podcast")
    p.control("POST", "requests/reset")
    config = {"handles": handles(p.settings, ["demo_light", "demo_heavy", "demo_podcast"])}
    result = p.materialize(
        [polled_plays], run_config={"ops": {"polled_plays": {"config": config}}}
    )
    assert p.control("GET", "requests")["counts"][RECENT] == 2
    metadata = result.asset_materializations_for_node("polled_plays")[0].metadata
    assert metadata["users_polled"].value == 2
    podcast = p.registry.require("demo_podcast").handle
    assert f"| {podcast} | not_active |" in metadata["users"].value
    users = {r["user_id"] for r in Warehouse(p.settings).scan(POLLED_PLAYS).to_pylist()}
    assert users == {"demo_light", "demo_heavy"}


def test_day_files_from_before_late_synced_still_merge(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = pipeline
    clock = _clock(p.emulator, monkeypatch)
    clock.set(p.emulator.state.world.end - timedelta(hours=1))
    config = {"ops": {"polled_plays": {"config": {"handles": handles(p.settings, ["demo_heavy"])}}}}
    assert p.materialize([polled_plays], run_config=config).success
    warehouse = Warehouse(p.settings)
    [path] = warehouse.files(POLLED_PLAYS, [f"demo_heavy/{clock.now.date().isoformat()}"])
    # The file as the previous version of the poll wrote it: no late_synced column (written
    # over the current file, as only a test may: lake files are otherwise never changed).
    old = pq.read_table(path).drop_columns(["late_synced"])
    pq.write_table(old, path)
    clock.advance(timedelta(minutes=50))
    assert p.materialize([polled_plays], run_config=config).success
    [merged_path] = warehouse.files(POLLED_PLAYS, [f"demo_heavy/{clock.now.date().isoformat()}"])
    merged = pq.read_table(merged_path).to_pylist()
    kept = {r["played_at"] for r in old.to_pylist()}
    assert kept <= {r["played_at"] for r in merged}
    assert {r["late_synced"] for r in merged if r["played_at"] in kept} == {None}
    assert len(merged) > len(kept)


def test_a_possible_loss_is_flagged_where_the_gap_is(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = pipeline
    clock = _clock(p.emulator, monkeypatch)
    world = p.emulator.state.world
    wanted = handles(p.settings, ["demo_heavy", "demo_light"])
    config = {"ops": {"polled_plays": {"config": {"handles": wanted}}}}
    clock.set(world.end - timedelta(hours=30))
    assert p.materialize([polled_plays, poll_plan], run_config=config).success
    # 30 hours later the heavy listener has played far more than the 50 Spotify keeps.
    clock.set(world.end)
    result = p.materialize([polled_plays, poll_plan], run_config=config)
    metadata = result.asset_materializations_for_node("polled_plays")[0].metadata
    assert metadata["possible_losses"].value == 1
    counted = [
        x for x in world.plays("demo_heavy") if x.kind == "track" and x.ms_played >= COUNTED_MS
    ]
    rows = Warehouse(p.settings).scan(POLLED_PLAYS).to_pylist()
    gaps = [(r["user_id"], r["played_at"]) for r in rows if r["gap_before"]]
    assert gaps == [("demo_heavy", counted[-50].ended_at)]  # the oldest of the page
    assert plan_rows(p.settings)["demo_heavy"]["possible_losses"] == 1
    assert plan_rows(p.settings)["demo_light"]["possible_losses"] == 0


# --- late syncs: a world with offline listeners ------------------------------------------------

BURSTY = WorldConfig(
    seed=3, end=datetime(2026, 3, 1, 12, tzinfo=UTC), days=21, n_artists=40, n_tracks=400,
    listeners=10,
)


@pytest.fixture(scope="module")
def bursty() -> Iterator[EmulatorHandle]:
    with running_emulator(BURSTY) as handle:
        yield handle


def _settings_for(emu: EmulatorHandle, data_dir: Path, **extra: object) -> Settings:
    from spotify_assets_tests.conftest import _free_port

    return load_settings(
        mode="emulator",
        data_dir=data_dir,
        emulator_port=emu.port,
        spotify_api_url=emu.base_url,
        spotify_accounts_url=emu.base_url,
        musicbrainz_url=emu.base_url,
        spotify_redirect_uri=f"http://127.0.0.1:{_free_port()}/callback",
        **extra,
    )


def _late_batch(world: World) -> tuple[str, list, object]:
    """An offline listener's late session that synced after a newer online play ended."""
    for user in (u.id for u in world.users.values() if u.habit == "offline"):
        plays = world.plays(user)
        counted = [x for x in plays if x.kind == "track" and x.ms_played >= COUNTED_MS]
        for play in counted:
            if play.synced_at is None:
                continue
            batch = [x for x in counted if x.synced_at == play.synced_at]
            newer = [
                x for x in counted
                if x.synced_at is None and batch[-1].ended_at < x.ended_at < play.synced_at
            ]
            if newer and len(batch) >= 3:
                return user, batch, newer[-1]
    raise AssertionError("no late session under a newer play")


def test_late_synced_plays_are_caught_flagged_and_counted(
    bursty: EmulatorHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from spotify_assets.lib.spotify.client import SpotifyClient

    settings = _settings_for(bursty, tmp_path / "data")
    user, batch, newer = _late_batch(bursty.state.world)
    registry = UserRegistry(settings)
    login(settings, registry, emulator_user=user, open_browser=False, timeout_s=30)
    clock = _clock(bursty, monkeypatch)
    config = {"ops": {"polled_plays": {"config": {"handles": handles(settings, [user])}}}}
    resources = build_resources(settings)
    synced = batch[0].synced_at
    with dg.instance_for_test() as instance:
        clock.set(synced - timedelta(seconds=30))  # the newer play is there, the batch is not
        assert dg.materialize([polled_plays, poll_plan], resources=resources,
                              instance=instance, run_config=config).success
        clock.set(synced + timedelta(minutes=1))
        result = dg.materialize([polled_plays, poll_plan], resources=resources,
                                instance=instance, run_config=config)
    metadata = result.asset_materializations_for_node("polled_plays")[0].metadata
    rows = Warehouse(settings).scan(POLLED_PLAYS).to_pylist()
    late = {r["played_at"] for r in rows if r["late_synced"]}
    assert late == {x.ended_at for x in batch}
    assert newer.ended_at in {r["played_at"] for r in rows if r["late_synced"] is False}
    assert metadata["late_synced_plays"].value == len(batch)
    assert plan_rows(settings)[user]["late_synced_plays"] == len(batch)
    # What the fixed schedule's `after` cursor at the newest play seen would have got:
    with SpotifyClient(settings, registry) as client:
        skipped = client.recently_played(user, after_ms=int(newer.ended_at.timestamp() * 1000))
    assert not {item.played_at for item in skipped.items} & late
    # The coverage report counts them (by the day they started), beside every polled play.
    months = sorted({(r["played_at"] - delta).strftime("%Y-%m-01")
                     for r in rows for delta in (timedelta(0), timedelta(days=1))})
    with dg.instance_for_test() as instance:
        for month in months:
            assert dg.materialize([plays, listening_coverage], partition_key=month,
                                  resources=resources, instance=instance).success
    coverage = Warehouse(settings).scan(LISTENING_COVERAGE).to_pylist()
    assert sum(r["seen_by_poll"] for r in coverage) == len(rows)
    assert sum(r["late_synced"] for r in coverage) == len(batch)
    assert sum(r["possible_gaps"] for r in coverage) == sum(bool(r["gap_before"]) for r in rows)
    # Raw holds what judged them late: the lake rebuilt from raw has the same files.
    files = _polled_files(settings)
    shutil.rmtree(settings.lake_dir)
    replay_polls(settings, Warehouse(settings), RebuildReport())
    assert _polled_files(settings) == files


def _polled_files(settings: Settings) -> dict[str, str]:
    """partition -> file name (named by the hash of its bytes) of every polled_plays day."""
    return {e.partition: e.path for e in Warehouse(settings).lake.manifest.current()
            if e.table == POLLED_PLAYS.name}


# --- the request budget ----------------------------------------------------------------------


def test_two_heavy_users_in_a_tight_window_are_each_polled_within_one_interval(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every user wants a poll every minute; the budget, 2 polls per 30 s window, serves 4 a
    minute for 5 users. Most overdue first, each user (the two heavy listeners too) is polled
    within one interval of its plan; served in a fixed order, the last would starve."""
    p = pipeline
    settings = p.settings.model_copy(
        update={"poll_min_minutes": 1, "poll_max_minutes": 1, "poll_requests_per_window": 2}
    )
    resources = build_resources(settings)
    clock = _clock(p.emulator, monkeypatch)
    clock.set(p.emulator.state.world.end - timedelta(hours=4))
    store = PlanStore(settings.state_dir)
    polls: dict[str, list[tuple[datetime, datetime]]] = {u: [] for u in DEMO_USERS}
    for _ in range(20):  # ten minutes of 30-second ticks
        planned = {u: plan.next_poll_at for u, plan in store.load().items()}
        for request in tick(settings, p.instance).run_requests or []:
            users = polled_ids(settings, request)
            assert len(users) <= 2
            for user_id in users:
                polls[user_id].append((planned.get(user_id, clock.now), clock.now))
            assert dg.materialize([polled_plays], resources=resources, instance=p.instance,
                                  run_config=request.run_config).success
        clock.advance(timedelta(seconds=30))
    for user_id, done in polls.items():
        assert len(done) >= 6, user_id  # 40 polls shared by 5: nobody starved
        late = max(at - due for due, at in done)
        assert late <= timedelta(minutes=1), (user_id, late)
    assert {"demo_heavy", "demo_skipper"} <= set(polls)
