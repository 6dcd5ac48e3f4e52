"""The bursty listeners (`WorldConfig.listeners`): binges, offline sessions Spotify hears of
hours late, night owls, week-long breaks; and recently-played over HTTP for late plays: they
appear only once synced, with their real past played_at, below newer plays (so an `after`
cursor at the newest play seen skips them). Answers are dated by the emulator clock.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from email.utils import parsedate_to_datetime
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from spotify_assets.emulator.server import EmulatorHandle, running_emulator
from spotify_assets.emulator.world import COUNTED_MS, World, WorldConfig, datetime_to_ms
from spotify_assets.emulator.world.listeners import HABITS
from spotify_assets.emulator.world.simulate import OFFLINE_MAX_MS, SYNC_AFTER_ONLINE_PLAYS
from spotify_assets_tests.emulator.conftest import FIXED_END, api_client

CONFIG = WorldConfig(seed=3, end=FIXED_END, days=21, n_artists=40, n_tracks=400, listeners=10)


@pytest.fixture(scope="module")
def world() -> World:
    return World(CONFIG)


@pytest.fixture(scope="module")
def bursty_emu() -> EmulatorHandle:
    with running_emulator(CONFIG) as handle:
        yield handle


def _users(world: World, habit: str) -> list[str]:
    return [u.id for u in world.users.values() if u.habit == habit]


def _counted(plays: list) -> list:
    return [p for p in plays if p.kind == "track" and p.ms_played >= COUNTED_MS]


def test_a_bursty_population_mixes_every_habit(world: World) -> None:
    habits = [u.habit for u in world.users.values()]
    assert len(habits) == 10 and list(world.users) == [f"listener_{i:03d}" for i in range(10)]
    for habit in ("binge", "night_owl", "offline", "week_off"):
        assert habits.count(habit) >= 2, habit
    assert {"heavy", "skipper"} <= set(habits)  # every fifth listener is a steady habit
    assert len({u.timezone for u in world.users.values()}) >= 3
    again = World(CONFIG)
    assert all(again.plays(u) == world.plays(u) for u in world.users)


def test_the_demo_users_sync_everything_at_once() -> None:
    demo = World(WorldConfig(seed=3, end=FIXED_END, days=3, n_artists=20, n_tracks=200))
    assert next(iter(demo.users)) == "demo_heavy"
    assert all(p.synced_at is None for u in demo.users for p in demo.plays(u))


def test_offline_sessions_reach_spotify_late_all_at_once(world: World) -> None:
    batches = 0
    for user in _users(world, "offline"):
        plays = world.plays(user)
        late: dict = defaultdict(list)
        for index, play in enumerate(plays):
            if play.synced_at is not None:
                late[play.synced_at].append(index)
        assert late, user
        for synced, indexes in late.items():
            batches += 1
            batch = [plays[i] for i in indexes]
            assert all(p.offline for p in batch)
            # One phone, reported at once: one offline session, or back-to-back ones.
            assert indexes == list(range(indexes[0], indexes[-1] + 1))
            starts = [0] + [
                k for k in range(1, len(batch))
                if batch[k].started_at - batch[k - 1].ended_at > timedelta(minutes=10)
            ]
            for a, b in pairwise([*starts, len(batch)]):
                # Planned <= OFFLINE_MAX_MS; the last play may run a few minutes over.
                span = batch[b - 1].ended_at - batch[a].started_at
                assert span <= timedelta(milliseconds=OFFLINE_MAX_MS, minutes=15)
            ended = batch[-1].ended_at
            low, high = HABITS["offline"].sync_delay_h
            after = plays[indexes[-1] + 1 :]
            online = _counted([p for p in after if p.synced_at is None and p.ended_at <= synced])
            # Reported sync_delay_h after the session, or at the owner's Nth online play.
            assert timedelta(hours=low) <= synced - ended <= timedelta(hours=high) or (
                len(online) == SYNC_AFTER_ONLINE_PLAYS and online[-1].ended_at == synced
            )
    assert batches >= 10
    others = [u for u in world.users if world.users[u].habit != "offline"]
    assert all(p.synced_at is None for u in others for p in world.plays(u))


def test_binges_night_owls_and_a_week_off(world: World) -> None:
    def sessions(user: str) -> list[tuple]:
        plays = world.plays(user)
        runs, first = [], plays[0]
        for a, b in pairwise(plays):
            if b.started_at - a.ended_at > timedelta(minutes=10):
                runs.append((first.started_at, a.ended_at))
                first = b
        return runs

    for user in _users(world, "binge"):
        assert max(end - start for start, end in sessions(user)) >= timedelta(hours=5), user
    for user in _users(world, "night_owl"):
        zone = ZoneInfo(world.users[user].timezone)
        hours = [p.ended_at.astimezone(zone).hour for p in _counted(world.plays(user))]
        late_night = sum(1 for h in hours if h >= 21 or h < 5)
        assert late_night / len(hours) > 0.6, user
    for user in _users(world, "week_off"):
        days = sorted({p.ended_at.date() for p in world.plays(user)})
        gap = max(b - a for a, b in pairwise(days))
        assert gap >= timedelta(days=HABITS["week_off"].pause_days[0]), user


def _late_batch_under_newer_plays(world: World) -> tuple[str, list, object]:
    """An offline session synced after at least one newer online play had ended."""
    for user in _users(world, "offline"):
        plays = world.plays(user)
        for play in plays:
            if play.synced_at is None:
                continue
            batch = [p for p in plays if p.synced_at == play.synced_at]
            newer = [
                p
                for p in _counted(plays)
                if p.synced_at is None and batch[-1].ended_at < p.ended_at < play.synced_at
            ]
            if newer and len(_counted(batch)) >= 3:
                return user, _counted(batch), newer[-1]
    raise AssertionError("no late session under newer plays in this world")


def test_recently_played_lists_late_plays_only_once_synced(
    world: World, bursty_emu: EmulatorHandle
) -> None:
    user, batch, newer = _late_batch_under_newer_plays(world)
    synced = batch[0].synced_at
    batch_at = {_iso(p) for p in batch}
    with api_client(bursty_emu, user) as client:
        bursty_emu.state.clock.set(synced - timedelta(seconds=1))
        before = client.get("/v1/me/player/recently-played?limit=50").json()["items"]
        seen_newest = before[0]["played_at"]
        assert seen_newest == _iso(newer)
        assert not batch_at & {i["played_at"] for i in before}
        bursty_emu.state.clock.set(synced)
        after_sync = client.get("/v1/me/player/recently-played?limit=50").json()["items"]
        listed = [i["played_at"] for i in after_sync]
        assert batch_at <= set(listed)  # there now, with their real past played_at
        assert listed == sorted(listed, reverse=True)  # by played_at, under the newer play
        assert listed.index(_iso(batch[-1])) > listed.index(seen_newest)
        cursor = datetime_to_ms(newer.ended_at)
        page = client.get(f"/v1/me/player/recently-played?after={cursor}&limit=50").json()
        assert not batch_at & {i["played_at"] for i in page["items"]}  # `after` skips them


def test_answers_are_dated_by_the_emulator_clock(bursty_emu: EmulatorHandle) -> None:
    moment = FIXED_END - timedelta(days=2, hours=3, seconds=7)
    bursty_emu.state.clock.set(moment)
    with api_client(bursty_emu, "listener_000") as client:
        response = client.get("/v1/me")
    assert parsedate_to_datetime(response.headers["date"]) == moment.replace(microsecond=0)
    assert len(response.headers.get_list("date")) == 1


def _iso(play) -> str:
    ended = play.ended_at
    return ended.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ended.microsecond // 1000:03d}Z"
