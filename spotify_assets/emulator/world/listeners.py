"""The demo users and how they listen: `Habit` and `HABITS`, the user definitions
(`USER_SPECS`), how sessions open and end and how one play leads to the next, and `_Taste` (a
user's favourite artists, liked songs, playlists and shows, as the simulator draws from them).

The bursty habits (`binge`, `night_owl`, `offline`, `week_off`) are not demo users': the
polling benchmark's generated listeners use them (population.py).
"""

from __future__ import annotations

from dataclasses import dataclass

# --------------------------------------------------------------------------------------------
# Users and habits
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Habit:
    """How one user listens. Blocks are local (start hour, end hour, mode) windows."""

    blocks: tuple[tuple[float, float, str], ...]
    block_prob: float
    jitter_h: float
    short_skip: float  # share of music plays skipped before 30 s (reason_end fwdbtn)
    mid_skip: float  # share skipped after 30 s but before the end
    repeat: float  # share of finished tracks played again at once
    shuffle: float
    platforms: tuple[tuple[str, float], ...]
    run_len: tuple[int, int]  # items played from one context before switching
    podcast_day_prob: float = 0.0  # chance of an extra short podcast session on a day
    max_plays: tuple[int, int] | None = None  # light listeners stop after a few plays
    sessions_per_day: tuple[int, ...] = ()  # light: how many sessions (uniform choice)
    # Bursts (all off for the demo users, whose worlds must not change): a day's chance of a
    # binge, an unplanned session of binge_hours starting in binge_start (local hours, may run
    # past midnight); the share of sessions played on a phone offline and reported sync_delay_h
    # hours after they end; a break of pause_days without any listening.
    binge_prob: float = 0.0
    binge_hours: tuple[float, float] = (0.0, 0.0)
    binge_start: tuple[float, float] = (0.0, 0.0)
    offline_share: float = 0.0
    sync_delay_h: tuple[float, float] = (0.0, 0.0)
    pause_days: tuple[int, int] = (0, 0)


HABITS: dict[str, Habit] = {
    # ~20 plays an hour through most waking hours.
    "heavy": Habit(
        blocks=((7.0, 11.5, "music"), (12.5, 17.5, "music"), (18.5, 23.5, "music")),
        block_prob=0.95,
        jitter_h=0.5,
        short_skip=0.10,
        mid_skip=0.06,
        repeat=0.02,
        shuffle=0.55,
        platforms=(("android", 0.6), ("windows", 0.3), ("web_player", 0.1)),
        run_len=(8, 30),
        podcast_day_prob=0.15,
    ),
    "skipper": Habit(
        blocks=(
            (8.0, 9.5, "music"),
            (12.0, 13.5, "music"),
            (17.0, 19.5, "music"),
            (21.0, 23.0, "music"),
        ),
        block_prob=0.8,
        jitter_h=0.4,
        short_skip=0.40,
        mid_skip=0.10,
        repeat=0.01,
        shuffle=0.85,
        platforms=(("ios", 0.8), ("osx", 0.2)),
        run_len=(10, 40),
        podcast_day_prob=0.05,
    ),
    # Local daytime in Asia/Tokyo: commute, lunch, evening.
    "tokyo": Habit(
        blocks=((7.5, 9.0, "music"), (12.0, 13.0, "music"), (18.5, 23.0, "music")),
        block_prob=0.85,
        jitter_h=0.3,
        short_skip=0.12,
        mid_skip=0.05,
        repeat=0.04,
        shuffle=0.4,
        platforms=(("ios", 0.6), ("osx", 0.4)),
        run_len=(6, 20),
        podcast_day_prob=0.1,
    ),
    "podcast": Habit(
        blocks=(
            (7.0, 8.5, "podcast"),
            (12.5, 13.25, "music"),
            (17.0, 18.5, "podcast"),
            (20.5, 22.0, "mixed"),
        ),
        block_prob=0.9,
        jitter_h=0.25,
        short_skip=0.08,
        mid_skip=0.05,
        repeat=0.01,
        shuffle=0.5,
        platforms=(("android", 0.8), ("web_player", 0.2)),
        run_len=(5, 15),
    ),
    "light": Habit(
        blocks=(),
        block_prob=1.0,
        jitter_h=0.0,
        short_skip=0.05,
        mid_skip=0.04,
        repeat=0.0,
        shuffle=0.3,
        platforms=(("web_player", 0.6), ("ios", 0.4)),
        run_len=(2, 6),
        podcast_day_prob=0.05,
        max_plays=(2, 6),
        sessions_per_day=(0, 1, 1, 1, 2, 2, 3),
    ),
    # Evenings and a morning commute, and on about one day in three an unplanned binge of
    # 5-11 hours (a discography, a party) that often runs into the night.
    "binge": Habit(
        blocks=((7.5, 8.5, "music"), (19.0, 22.5, "music")),
        block_prob=0.8,
        jitter_h=0.5,
        short_skip=0.12,
        mid_skip=0.08,
        repeat=0.03,
        shuffle=0.6,
        platforms=(("android", 0.5), ("windows", 0.4), ("web_player", 0.1)),
        run_len=(10, 40),
        binge_prob=0.3,
        binge_hours=(5.0, 11.0),
        binge_start=(11.0, 21.0),
    ),
    # Early afternoon and from late evening to 03:00-04:00 local.
    "night_owl": Habit(
        blocks=((13.0, 14.5, "music"), (21.5, 27.5, "music")),
        block_prob=0.9,
        jitter_h=0.6,
        short_skip=0.10,
        mid_skip=0.06,
        repeat=0.02,
        shuffle=0.5,
        platforms=(("osx", 0.5), ("ios", 0.5)),
        run_len=(8, 30),
        binge_prob=0.1,
        binge_hours=(3.0, 6.0),
        binge_start=(16.0, 20.0),
    ),
    # Commutes on the underground and a workout: short sessions, a third of them played offline
    # on the phone and reported 1-9 hours later, often after desk listening online.
    "offline": Habit(
        blocks=(
            (7.75, 8.5, "music"),
            (9.5, 12.0, "music"),
            (13.0, 16.5, "music"),
            (17.5, 18.25, "music"),
            (19.0, 19.75, "music"),
            (20.5, 22.5, "music"),
        ),
        block_prob=0.85,
        jitter_h=0.2,
        short_skip=0.10,
        mid_skip=0.05,
        repeat=0.02,
        shuffle=0.5,
        platforms=(("android", 0.6), ("windows", 0.4)),
        run_len=(6, 25),
        offline_share=0.35,
        sync_delay_h=(1.0, 9.0),
    ),
    # A heavy listener who stops for a week (holiday, illness) once in the window.
    "week_off": Habit(
        blocks=((7.0, 10.0, "music"), (12.5, 14.0, "music"), (17.5, 23.5, "music")),
        block_prob=0.9,
        jitter_h=0.5,
        short_skip=0.10,
        mid_skip=0.06,
        repeat=0.02,
        shuffle=0.55,
        platforms=(("android", 0.6), ("windows", 0.4)),
        run_len=(8, 30),
        binge_prob=0.05,
        binge_hours=(4.0, 8.0),
        binge_start=(12.0, 18.0),
        pause_days=(6, 9),
    ),
}


@dataclass(frozen=True)
class UserSpec:
    id: str
    display_name: str
    timezone: str
    habit: str
    country: str
    n_favorites: int
    n_follows: int
    culture_weights: dict[str, float]
    shows: tuple[int, ...]  # indexes into SHOWS


USER_SPECS: tuple[UserSpec, ...] = (
    UserSpec(
        "demo_heavy",
        "Maya Okafor",
        "America/New_York",
        "heavy",
        "US",
        30,
        30,
        {"en": 3, "acc": 2, "amp": 2, "ja": 0.5, "ru": 0.5},
        (5,),
    ),
    UserSpec(
        "demo_skipper",
        "Sam Lindqvist",
        "Europe/London",
        "skipper",
        "GB",
        45,
        20,
        {"en": 2, "acc": 1, "amp": 1, "ja": 1, "ru": 1},
        (1,),
    ),
    UserSpec(
        "demo_tokyo",
        "Yuki Tanaka",
        "Asia/Tokyo",
        "tokyo",
        "JP",
        20,
        15,
        {"en": 1, "acc": 0.5, "amp": 0.5, "ja": 6, "ru": 0.2},
        (4,),
    ),
    UserSpec(
        "demo_podcast",
        "Lena Fischer",
        "Europe/Berlin",
        "podcast",
        "DE",
        12,
        8,
        {"en": 2, "acc": 2, "amp": 1, "ja": 0.5, "ru": 1},
        (0, 2, 3, 6, 7),
    ),
    UserSpec(
        "demo_light",
        "Omar Haddad",
        "Atlantic/Reykjavik",
        "light",
        "IS",
        10,
        5,
        {"en": 2, "acc": 1, "amp": 1, "ja": 0.5, "ru": 0.5},
        (5,),
    ),
)

SESSION_OPENERS = (
    ("clickrow", 0.45),
    ("playbtn", 0.25),
    ("appload", 0.2),
    ("remote", 0.05),
    ("unknown", 0.05),
)
SESSION_ENDERS = (
    ("endplay", 0.45),
    ("logout", 0.2),
    ("unexpected-exit-while-paused", 0.15),
    ("unexpected-exit", 0.08),
    ("remote", 0.07),
    ("unknown", 0.05),
)
# reason_start of the next play follows from how the previous one ended.
NEXT_START = {
    "trackdone": "trackdone",
    "fwdbtn": "fwdbtn",
    "backbtn": "backbtn",
    "trackerror": "trackerror",
}


@dataclass
class _Taste:
    favorites: list[str]  # artist ids, most loved first
    favorite_weights: list[float]
    liked: list[str]  # track ids ("Liked Songs", context null)
    playlists: list[tuple[str, list[str]]]  # (playlist id, track ids)
    shows: list[str]  # show ids
