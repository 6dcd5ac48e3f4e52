"""Playing: `_Simulator` generates one demo user's plays, session by session, in local time,
from their habit and taste.

The bursts of the bursty habits (binges, offline sessions reported late, breaks) draw from a
generator of their own, so the demo users' plays do not change when they are tuned.
"""

from __future__ import annotations

import dataclasses
import random
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from spotify_assets.emulator.world.listeners import (
    HABITS,
    NEXT_START,
    SESSION_ENDERS,
    SESSION_OPENERS,
    _Taste,
)
from spotify_assets.emulator.world.models import COUNTED_MS, DemoUser, Play, PlayKind
from spotify_assets.emulator.world.util import _weighted, datetime_to_ms, ms_to_datetime

if TYPE_CHECKING:
    from spotify_assets.emulator.world import World

# A phone is offline for a commute or a workout, not a working day: sessions planned longer
# are always online.
OFFLINE_MAX_MS = 70 * 60_000
# The phone reports its offline plays sync_delay_h after the session, or once its owner has
# played this many tracks online elsewhere (back at a desk, the phone finds the Wi-Fi).
SYNC_AFTER_ONLINE_PLAYS = 2


# --------------------------------------------------------------------------------------------
# Playing
# --------------------------------------------------------------------------------------------


class _Simulator:
    """Generates one user's plays, session by session, in local time."""

    def __init__(self, world: World, user: DemoUser, taste: _Taste, user_index: int) -> None:
        self.world = world
        self.user = user
        self.taste = taste
        self.habit = HABITS[user.habit]
        self.rng = random.Random(f"{world.config.seed}:plays:{user.id}")
        self.burst_rng = random.Random(f"{world.config.seed}:bursts:{user.id}")
        self.tz = ZoneInfo(user.timezone)
        self.plays: list[Play] = []
        self.cursor = 0
        self.ips = [f"192.0.2.{10 + user_index * 10 + k}" for k in range(3)]
        self.next_episode: dict[str, int] = {}

    def run(self) -> list[Play]:
        start_ms = datetime_to_ms(self.world.start)
        end_ms = datetime_to_ms(self.world.end)
        self.cursor = start_ms
        day = self.world.start.astimezone(self.tz).date() - timedelta(days=1)
        last_day = self.world.end.astimezone(self.tz).date()
        paused = self._pause(day, last_day)
        offline_sessions: list[tuple[int, int]] = []
        while day <= last_day:
            if day in paused:
                day += timedelta(days=1)
                continue
            for begin, stop, mode, max_plays in self._sessions(day):
                if stop <= start_ms or begin >= end_ms:
                    continue
                offline = self._offline_session(stop - begin)
                first = len(self.plays)
                self._session(max(begin, self.cursor + 1000), min(stop, end_ms), mode, max_plays)
                if offline and first < len(self.plays):
                    offline_sessions.append((first, len(self.plays)))
            day += timedelta(days=1)
        self._report_late(offline_sessions)
        # Sessions cut by the window edges: keep only whole plays inside [start, end].
        return [
            p
            for p in self.plays
            if start_ms <= datetime_to_ms(p.ended_at) - p.ms_played
            and datetime_to_ms(p.ended_at) <= end_ms
        ]

    def _pause(self, first: date, last: date) -> set[date]:
        """The days of the habit's break (none for most habits)."""
        low, high = self.habit.pause_days
        if not high:
            return set()
        length = self.burst_rng.randint(low, high)
        span = (last - first).days
        start = first + timedelta(days=self.burst_rng.randint(2, max(2, span - length - 2)))
        return {start + timedelta(days=k) for k in range(length)}

    def _offline_session(self, planned_ms: int) -> bool:
        share = self.habit.offline_share
        return bool(share) and planned_ms <= OFFLINE_MAX_MS and self.burst_rng.random() < share

    def _report_late(self, sessions: list[tuple[int, int]]) -> None:
        """Offline sessions' plays reach Spotify late, all at once, with their real ended_at."""
        offline = {i for first, stop in sessions for i in range(first, stop)}
        low, high = self.habit.sync_delay_h
        for first, stop in sessions:
            synced = self.plays[stop - 1].ended_at + timedelta(
                hours=self.burst_rng.uniform(low, high)
            )
            online = (
                p
                for i, p in enumerate(self.plays[stop:], start=stop)
                if i not in offline and p.kind == "track" and p.ms_played >= COUNTED_MS
            )
            for count, play in enumerate(online, start=1):
                if play.ended_at >= synced:
                    break
                if count == SYNC_AFTER_ONLINE_PLAYS:
                    synced = play.ended_at
                    break
            for index in range(first, stop):
                self.plays[index] = dataclasses.replace(
                    self.plays[index], offline=True, synced_at=synced
                )

    def _local_ms(self, day: date, hour: float) -> int:
        whole = int(hour)
        minute = int((hour - whole) * 60)
        local = datetime(day.year, day.month, day.day, tzinfo=self.tz) + timedelta(
            hours=whole, minutes=minute
        )
        return int(local.timestamp()) * 1000

    def _sessions(self, day: date) -> list[tuple[int, int, str, int | None]]:
        rng, habit = self.rng, self.habit
        sessions: list[tuple[int, int, str, int | None]] = []
        if habit.sessions_per_day:
            for _ in range(rng.choice(habit.sessions_per_day)):
                hour = rng.uniform(8.0, 22.0)
                max_plays = rng.randint(*habit.max_plays) if habit.max_plays else None
                begin = self._local_ms(day, hour)
                sessions.append((begin, begin + 3 * 3_600_000, "music", max_plays))
        for start_h, end_h, mode in habit.blocks:
            if rng.random() >= habit.block_prob:
                continue
            begin = self._local_ms(day, start_h + rng.uniform(-habit.jitter_h, habit.jitter_h))
            stop = self._local_ms(day, end_h + rng.uniform(-habit.jitter_h, habit.jitter_h))
            sessions.append((begin, stop, mode, None))
        if self.taste.shows and rng.random() < habit.podcast_day_prob:
            begin = self._local_ms(day, rng.uniform(6.0, 8.0))
            sessions.append((begin, begin + 25 * 60_000, "podcast", 1))
        if habit.binge_prob and self.burst_rng.random() < habit.binge_prob:
            begin = self._local_ms(day, self.burst_rng.uniform(*habit.binge_start))
            hours = self.burst_rng.uniform(*habit.binge_hours)
            sessions.append((begin, begin + int(hours * 3_600_000), "music", None))
        sessions.sort()
        return sessions

    def _session(self, t: int, stop: int, mode: str, max_plays: int | None) -> None:
        rng = self.rng
        mobile = self.user.habit != "light" and rng.random() < 0.7
        platform = _weighted(rng, self.habit.platforms)
        flags = {
            "platform": platform,
            "offline": platform in ("android", "ios") and rng.random() < 0.06,
            "incognito": rng.random() < 0.01,
            "ip": self.ips[1 if mobile else 0],
        }
        reason = _weighted(rng, SESSION_OPENERS)
        if mode == "podcast" or (mode == "mixed" and self.taste.shows):
            # A mixed evening: one episode, then music.
            limit = 1 if mode == "mixed" else max_plays
            t, reason, _count = self._episodes(t, stop, reason, flags, limit)
            if mode == "podcast":
                return
            reason = "clickrow"
        self._music(t, stop, reason, flags, None if max_plays is None else max_plays)

    def _emit(
        self,
        kind: PlayKind,
        item: str,
        t: int,
        ms: int,
        reason_start: str,
        reason_end: str,
        shuffle: bool,
        context: str | None,
        flags: dict,
    ) -> int:
        ended = t + ms
        self.plays.append(
            Play(
                user_id=self.user.id,
                kind=kind,
                item_id=item,
                ended_at=ms_to_datetime(ended),
                ms_played=ms,
                platform=flags["platform"],
                shuffle=shuffle,
                skipped=reason_end in ("fwdbtn", "backbtn"),
                reason_start=reason_start,
                reason_end=reason_end,
                offline=flags["offline"],
                incognito=flags["incognito"],
                conn_country=self.user.country,
                context_uri=context,
                ip_addr=flags["ip"],
            )
        )
        self.cursor = ended
        return ended + self.rng.randint(0, 1500)

    def _episodes(
        self, t: int, stop: int, reason: str, flags: dict, max_plays: int | None
    ) -> tuple[int, str, int]:
        rng, world = self.rng, self.world
        count = 0
        while t < stop and (max_plays is None or count < max_plays):
            show = rng.choice(self.taste.shows)
            episodes = world.show_episodes[show]
            index = self.next_episode.get(show, rng.randrange(max(1, len(episodes) // 2)))
            episode = world.episodes[episodes[index % len(episodes)]]
            if world.episode_release_ms[episode.id] > t:
                index = rng.randrange(len(episodes) // 2 + 1)
                episode = world.episodes[episodes[index]]
            full = rng.random() < 0.7 and t + episode.duration_ms <= stop
            if full:
                ms, end_reason = episode.duration_ms, "trackdone"
                self.next_episode[show] = index + 1
            else:
                ms = min(episode.duration_ms, max(60_000, stop - t)) * rng.randint(30, 95) // 100
                end_reason = _weighted(rng, SESSION_ENDERS)
                self.next_episode[show] = index
            t = self._emit(
                "episode",
                episode.id,
                t,
                ms,
                reason,
                end_reason,
                False,
                f"spotify:show:{show}",
                flags,
            )
            count += 1
            if not full:
                return t, "clickrow", count
            reason = "trackdone"
        return t, reason, count

    def _context(self, t: int) -> tuple[str | None, list[str], bool]:
        rng, world, taste = self.rng, self.world, self.taste
        shuffle = rng.random() < self.habit.shuffle
        roll = rng.random()
        artist = rng.choices(taste.favorites, weights=taste.favorite_weights)[0]
        if roll < 0.3:
            albums = [a for a in world.artist_album_ids[artist] if world.album_release_ms[a] <= t]
            if albums:
                album = rng.choice(albums)
                items = list(world.albums[album].track_ids)
                if shuffle:
                    rng.shuffle(items)
                return f"spotify:album:{album}", items, shuffle
        if roll < 0.6 and taste.playlists:
            playlist, tracks = rng.choice(taste.playlists)
            return f"spotify:playlist:{playlist}", self._order(tracks, shuffle), shuffle
        if roll < 0.7:
            tracks = world.artist_track_ids[artist]
            return f"spotify:artist:{artist}", self._order(tracks, shuffle), shuffle
        return None, self._order(taste.liked, shuffle), shuffle

    def _order(self, tracks: list[str], shuffle: bool) -> list[str]:
        if shuffle:
            return self.rng.sample(tracks, k=len(tracks))
        offset = self.rng.randrange(len(tracks))
        return tracks[offset:] + tracks[:offset]

    def _music(self, t: int, stop: int, reason: str, flags: dict, max_plays: int | None) -> None:
        rng, world, habit = self.rng, self.world, self.habit
        count = 0
        queue: list[str] = []
        context: str | None = None
        shuffle = False
        run_left = 0
        previous: str | None = None
        replay: str | None = None
        unreleased = 0
        while t < stop and (max_plays is None or count < max_plays) and unreleased < 500:
            if replay is None and (run_left <= 0 or not queue):
                context, queue, shuffle = self._context(t)
                run_left = rng.randint(*habit.run_len)
                if count:
                    reason = "clickrow"
            if replay is not None:
                item, replay = replay, None
            else:
                item = queue.pop(0)
                run_left -= 1
                if world.track_release_ms[item] > t:
                    unreleased += 1
                    continue
            duration = world.tracks[item].duration_ms
            last = (max_plays is not None and count + 1 >= max_plays) or t + duration >= stop
            ms, end_reason = self._outcome(duration, last)
            if end_reason == "trackdone" and rng.random() < habit.repeat:
                replay = item
            elif end_reason == "backbtn":
                replay = previous or item
            t = self._emit("track", item, t, ms, reason, end_reason, shuffle, context, flags)
            count += 1
            previous = item
            if end_reason not in NEXT_START:
                return
            reason = NEXT_START[end_reason]

    def _outcome(self, duration: int, last: bool) -> tuple[int, str]:
        rng, habit = self.rng, self.habit
        if last and rng.random() < 0.7:
            return duration * rng.randint(5, 95) // 100, _weighted(rng, SESSION_ENDERS)
        roll = rng.random()
        if roll < habit.short_skip:
            if rng.random() < 0.15:  # the very short ones: skipped before the song really began
                return rng.randint(0, 1999), "fwdbtn"
            return rng.randint(2000, COUNTED_MS - 1), "fwdbtn"
        roll -= habit.short_skip
        if roll < habit.mid_skip:
            return rng.randint(COUNTED_MS, max(COUNTED_MS, duration - 5000)), "fwdbtn"
        roll -= habit.mid_skip
        if roll < 0.015:
            return rng.randint(COUNTED_MS, max(COUNTED_MS, duration // 2)), "backbtn"
        if roll < 0.018:
            return rng.randint(0, 800), "trackerror"
        return duration, "trackdone"
