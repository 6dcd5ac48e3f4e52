"""`spotify-assets bench polling`: adaptive polling against fixed 2- and 30-minute polling, on
one 30-day world of 50 bursty listeners, measured in the same run against the world's truth.

The world (`WorldConfig(listeners=50)`, emulator/world/population.py): binges, offline
sessions Spotify hears of hours late (with their real past `played_at`), night owls, a week
off, and a few steady, podcast and light listeners. An in-thread emulator serves it; one
simulated clock drives the emulator, the sensor and the poll (nothing sleeps).

- **adaptive**: the production code. Each tick calls the sensor's own evaluation
  (`evaluate_poll_plan`, which reads and marks the plan store) and the run's own poll
  (`poll_users`: real HTTP through the real client, the lake merge, the registry cursor, the
  plan update) for the users it granted. Ticks are 30 s apart (the sensor's interval); a tick
  at which nobody is due is skipped, because the sensor would request nothing and change
  nothing (its evaluation only marks users it grants).
- **fixed 30 min** (the old `poll_schedule`): every user every 30 minutes with the old poll,
  `recently_played(after=cursor)`, over real HTTP through the same client (plays kept in
  memory: the old lake merge added nothing a set of keys does not).
- **fixed 2 min** (your_spotify's cadence): the same old poll every 2 minutes is 1,080,000
  requests for 50 users and 30 days, hours of loopback HTTP. Its answers are computed
  in-process instead, with the emulator's own functions (`newest_known`, `recent_page`) and
  the client's cursor walk; that replay is checked against real HTTP in the same run: exactly
  the same plays and request count for the whole 30-minute baseline, and for the 2-minute one
  on its first hours.

Every strategy ends with one poll of every user at the window's end. Truth: every counted
track play (>= 30 s) Spotify knows of by the end. A play no poller can get (synced under 50
newer plays) is reported apart, not as lost; lost = the rest, not captured.
"""

from __future__ import annotations

import socket
import tempfile
import time
from bisect import bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from spotify_assets.defs.listening.poll import poll_users
from spotify_assets.defs.listening.poll_plan import evaluate_poll_plan
from spotify_assets.defs.listening.tables import POLLED_PLAYS
from spotify_assets.defs.resources import Warehouse
from spotify_assets.emulator.server import EmulatorHandle, running_emulator
from spotify_assets.emulator.spotify_api import newest_known, recent_index, recent_page
from spotify_assets.emulator.world import World, WorldConfig, datetime_to_ms
from spotify_assets.lib.polling import RATE_WINDOW, REACHABLE, policy_from
from spotify_assets.lib.polling.store import PlanStore
from spotify_assets.lib.settings import EMULATOR_CLIENT_ID, Settings, load_settings
from spotify_assets.lib.spotify.client import SpotifyClient
from spotify_assets.lib.users.login import login
from spotify_assets.lib.users.registry import UserRegistry

END = datetime(2026, 3, 31, tzinfo=UTC)
RECENT = "GET /v1/me/player/recently-played"
CHECK_HOURS = 6  # the 2-minute replay is checked against HTTP on this many first hours

Key = tuple[str, int, str]  # user, played_at ms, track id


@dataclass
class Side:
    name: str
    requests: int
    captured: set[Key]
    seconds: float
    how: str
    extra: dict[str, int] = field(default_factory=dict)
    polls_by_user: dict[str, int] = field(default_factory=dict)


@dataclass
class Truth:
    plays: set[Key]
    unreachable: set[Key]
    late: set[Key]

    def lost(self, captured: set[Key]) -> set[Key]:
        return self.plays - self.unreachable - captured


class SimClock:
    """The simulated now, shared by the emulator and the client's token cache."""

    def __init__(self, emu: EmulatorHandle, start: datetime) -> None:
        self.emu, self.start, self.now = emu, start, start

    def set(self, moment: datetime) -> None:
        self.now = moment
        self.emu.state.clock.set(moment)

    def seconds(self) -> float:
        return (self.now - self.start).total_seconds()


# --- truth -----------------------------------------------------------------------------------


def truth_of(world: World) -> Truth:
    plays: set[Key] = set()
    unreachable: set[Key] = set()
    late: set[Key] = set()
    end = world.end
    for user in world.users:
        counted, keys = recent_index(world, user)
        for index, play in enumerate(counted):
            if play.visible_at > end:
                continue
            key = (user, keys[index], play.item_id)
            plays.add(key)
            if play.synced_at is None:
                continue  # the newest play when it ends: reachable then
            late.add(key)
            # Plays newer than it that Spotify already has when it arrives.
            upto = bisect_right(keys, datetime_to_ms(play.synced_at))
            newer = sum(
                1
                for other in counted[index + 1 : upto]
                if other.visible_at <= play.synced_at
            )
            if newer >= REACHABLE:
                unreachable.add(key)
    return Truth(plays, unreachable, late)


# --- the production side -----------------------------------------------------------------------


def run_adaptive(settings: Settings, clock: SimClock, emu: EmulatorHandle, end: datetime,
                 out: Callable[[str], None]) -> Side:
    registry = UserRegistry(settings)
    users = {u.id: u for u in registry.active_users()}
    warehouse = Warehouse(settings)
    store = PlanStore(settings.state_dir)
    policy = policy_from(settings)
    emu.state.reset_request_counts()
    started = time.perf_counter()
    ticks = polls = 0
    next_day = clock.now + timedelta(days=1)
    with SpotifyClient(settings, registry, clock=clock.seconds, sleep=lambda _: None) as spotify:
        now = clock.now
        while now < end:
            clock.set(now)
            tick = evaluate_poll_plan(settings, now)
            ticks += 1
            if tick.granted:
                polled = poll_users(spotify, registry, warehouse, store, policy,
                                    [users[u] for u in tick.granted], now)
                polls += len(polled)
            nxt = tick.next_at if tick.next_at is not None and tick.next_at > now else now
            steps = max(1, -(-(nxt - now) // RATE_WINDOW))  # the tick at or after nxt
            now += RATE_WINDOW * steps
            if now >= next_day:
                out(f"  adaptive: {now:%Y-%m-%d}, {polls} polls")
                next_day += timedelta(days=1)
        clock.set(end)
        poll_users(spotify, registry, warehouse, store, policy, list(users.values()), end)
    seconds = time.perf_counter() - started
    requests = emu.state.request_counts_snapshot().get(RECENT, 0)
    rows = warehouse.scan(POLLED_PLAYS).to_pylist()
    captured = {(r["user_id"], datetime_to_ms(r["played_at"]), r["track_id"]) for r in rows}
    plans = list(store.load().values())
    return Side(
        "adaptive (sensor + poll)",
        requests,
        captured,
        seconds,
        "real HTTP, sensor evaluation + poll run code",
        {
            "sensor ticks evaluated": ticks,
            "possible losses flagged": sum(p.possible_losses for p in plans),
            "late-synced plays caught": sum(bool(r["late_synced"]) for r in rows),
        },
        {p.user_id: p.polls for p in plans},
    )


# --- the old poll: over HTTP, and replayed -------------------------------------------------------


def _grid(start: datetime, end: datetime, step: timedelta) -> Iterable[datetime]:
    moment = start
    while moment < end:
        yield moment
        moment += step
    yield end


def run_fixed_http(settings: Settings, clock: SimClock, emu: EmulatorHandle, users: list[str],
                   start: datetime, end: datetime, step: timedelta, name: str) -> Side:
    """The old poll (after = the newest play seen) for every user at every step, over HTTP."""
    registry = UserRegistry(settings)
    cursor: dict[str, int | None] = dict.fromkeys(users)
    captured: set[Key] = set()
    emu.state.reset_request_counts()
    started = time.perf_counter()
    with SpotifyClient(settings, registry, clock=clock.seconds, sleep=lambda _: None) as spotify:
        for moment in _grid(start, end, step):
            clock.set(moment)
            for user in users:
                page = spotify.recently_played(user, after_ms=cursor[user])
                for item in page.items:
                    captured.add((user, datetime_to_ms(item.played_at), item.track.id))
                assert page.cursors is not None
                after = page.cursors.after
                cursor[user] = int(after) if after else None
    seconds = time.perf_counter() - started
    requests = emu.state.request_counts_snapshot().get(RECENT, 0)
    return Side(name, requests, captured, seconds, "real HTTP, the old poll")


class Replay:
    """What the emulator answers recently-played, computed in-process with its own functions."""

    def __init__(self, world: World) -> None:
        self.index = {user: recent_index(world, user) for user in world.users}

    def page(self, user: str, now_ms: int, after: int | None) -> list[tuple[int, object]]:
        plays, keys = self.index[user]
        return recent_page(newest_known(plays, keys, now_ms), REACHABLE, after, None)


def run_fixed_replay(replay: Replay, users: list[str], start: datetime, end: datetime,
                     step: timedelta, name: str) -> Side:
    """The old poll's requests and plays at every step, as the client's cursor walk makes them:
    a full page of 50 is followed by one more request (forward after the newest, or back
    before the oldest on a first poll), which finds nothing (only 50 are reachable)."""
    cursor: dict[str, int | None] = dict.fromkeys(users)
    captured: set[Key] = set()
    requests = 0
    started = time.perf_counter()
    for moment in _grid(start, end, step):
        now_ms = datetime_to_ms(moment)
        for user in users:
            page = replay.page(user, now_ms, cursor[user])
            requests += 2 if len(page) == REACHABLE else 1
            for ms, play in page:
                captured.add((user, ms, play.item_id))  # type: ignore[attr-defined]
            if page:
                cursor[user] = max(cursor[user] or 0, page[0][0])
    seconds = time.perf_counter() - started
    return Side(name, requests, captured, seconds, "emulator's answers replayed in-process")


# --- the run ---------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _settings(emu: EmulatorHandle, data_dir: Path) -> Settings:
    return load_settings(
        mode="emulator",
        data_dir=data_dir,
        emulator_port=emu.port,
        spotify_api_url=emu.base_url,
        spotify_accounts_url=emu.base_url,
        musicbrainz_url=emu.base_url,
        spotify_client_id=EMULATOR_CLIENT_ID,
        spotify_redirect_uri=f"http://127.0.0.1:{_free_port()}/callback",
    )


def run(users: int = 50, days: int = 30, seed: int = 42,
        out: Callable[[str], None] = print) -> dict:
    config = WorldConfig(seed=seed, end=END, days=days, listeners=users)
    built = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="poll-bench-") as tmp, \
            running_emulator(config) as emu:
        world = emu.state.world
        start, end = world.start, world.end
        truth = truth_of(world)
        out(f"world: {users} listeners, {days} days, {len(truth.plays):,} counted plays "
            f"({len(truth.late):,} synced late, {len(truth.unreachable):,} of them never "
            f"reachable); built in {time.perf_counter() - built:.1f} s")
        clock = SimClock(emu, start)
        clock.set(start)
        settings = _settings(emu, Path(tmp) / "data")
        registry = UserRegistry(settings)
        for user in world.users.values():
            login(settings, registry, emulator_user=user.id, open_browser=False,
                  out=lambda _: None)
            registry.set_timezone(user.id, user.timezone)
        ids = sorted(world.users)
        adaptive = run_adaptive(settings, clock, emu, end, out)
        out(f"adaptive: {adaptive.requests:,} requests in {adaptive.seconds:.0f} s")
        fixed30 = run_fixed_http(settings, clock, emu, ids, start, end, timedelta(minutes=30),
                                 "fixed 30 min (old schedule)")
        out(f"fixed 30 min over HTTP: {fixed30.requests:,} requests in {fixed30.seconds:.0f} s")
        replay = Replay(world)
        check30 = run_fixed_replay(replay, ids, start, end, timedelta(minutes=30), "check")
        sample_end = start + timedelta(hours=CHECK_HOURS)
        http2 = run_fixed_http(settings, clock, emu, ids, start, sample_end,
                               timedelta(minutes=2), "check")
        check2 = run_fixed_replay(replay, ids, start, sample_end, timedelta(minutes=2), "check")
        replay_ok = (check30.captured, check30.requests) == (fixed30.captured, fixed30.requests)
        replay_ok &= (check2.captured, check2.requests) == (http2.captured, http2.requests)
        if not replay_ok:
            raise AssertionError("the in-process replay differs from the emulator over HTTP")
        out(f"replay = HTTP: 30-min baseline ({fixed30.requests:,} requests) and the 2-min "
            f"one's first {CHECK_HOURS} h ({http2.requests:,} requests)")
        fixed2 = run_fixed_replay(replay, ids, start, end, timedelta(minutes=2),
                                  "fixed 2 min (your_spotify)")
    habits = {u.id: u.habit for u in world.users.values()}
    return {"users": users, "days": days, "seed": seed, "truth": truth, "habits": habits,
            "sides": [adaptive, fixed2, fixed30]}


def report(result: dict) -> str:
    truth: Truth = result["truth"]
    reachable = len(truth.plays) - len(truth.unreachable)
    lines = [
        f"{result['users']} bursty listeners, {result['days']} days (seed {result['seed']}): "
        f"{len(truth.plays):,} counted plays, {len(truth.late):,} of them synced late; "
        f"{len(truth.unreachable):,} never reachable (synced under 50 newer plays), "
        f"{reachable:,} reachable.",
        "",
        "| strategy | requests | plays captured | lost | of which late-synced "
        "| requests per captured play | how |",
        "|---|---|---|---|---|---|---|",
    ]
    for side in result["sides"]:
        lost = truth.lost(side.captured)
        captured = len(side.captured & truth.plays)
        lines.append(
            f"| {side.name} | {side.requests:,} | {captured:,} | {len(lost):,} "
            f"| {len(lost & truth.late):,} | {side.requests / max(captured, 1):.4f} "
            f"| {side.how}, {side.seconds:.0f} s |"
        )
    adaptive = result["sides"][0]
    lines.append("")
    lines.extend(f"adaptive: {k}: {v:,}" for k, v in adaptive.extra.items())
    lines += ["", "adaptive by habit (successful polls):", "",
              "| habit | listeners | polls | plays captured | polls per play | lost |",
              "|---|---|---|---|---|---|"]
    habits: dict[str, list[str]] = {}
    for user, habit in sorted(result["habits"].items()):
        habits.setdefault(habit, []).append(user)
    lost = truth.lost(adaptive.captured)
    for habit, users in habits.items():
        members = set(users)
        polls = sum(adaptive.polls_by_user.get(u, 0) for u in users)
        captured = sum(1 for key in adaptive.captured if key[0] in members)
        gone = sum(1 for key in lost if key[0] in members)
        lines.append(f"| {habit} | {len(users)} | {polls:,} | {captured:,} "
                     f"| {polls / max(captured, 1):.3f} | {gone} |")
    return "\n".join(lines)
