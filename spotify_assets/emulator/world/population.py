"""Who lives in a world: the five demo users, or `WorldConfig.listeners` generated bursty
listeners (the polling benchmark's population).

A generated population cycles through the bursty habits (binge, night owl, offline, week off)
and, for every fifth listener, one of the demo habits (heavy, skipper, tokyo, podcast, light),
so steady and light listeners are in it too. Ids are `listener_000`, ...; timezones and
tastes vary; everything derives from the seed.
"""

from __future__ import annotations

import random

from spotify_assets.emulator.world.listeners import USER_SPECS, UserSpec
from spotify_assets.emulator.world.models import WorldConfig
from spotify_assets.emulator.world.names import FIRST, LAST, SHOWS

BURSTY = ("binge", "night_owl", "offline", "week_off")
STEADY = ("heavy", "skipper", "tokyo", "podcast", "light")
TIMEZONES = (
    ("America/New_York", "US"),
    ("Europe/Berlin", "DE"),
    ("Asia/Tokyo", "JP"),
    ("America/Los_Angeles", "US"),
    ("Europe/London", "GB"),
    ("Australia/Sydney", "AU"),
    ("America/Sao_Paulo", "BR"),
    ("Asia/Kolkata", "IN"),
    ("Africa/Lagos", "NG"),
    ("Pacific/Auckland", "NZ"),
)


def user_specs(config: WorldConfig) -> tuple[UserSpec, ...]:
    """The world's users, in a fixed order."""
    if not config.listeners:
        return USER_SPECS
    rng = random.Random(f"{config.seed}:population")
    specs = []
    for index in range(config.listeners):
        if index % 5 == 4:
            habit = STEADY[(index // 5) % len(STEADY)]
        else:
            habit = BURSTY[(index - index // 5) % len(BURSTY)]
        timezone, country = TIMEZONES[rng.randrange(len(TIMEZONES))]
        specs.append(
            UserSpec(
                f"listener_{index:03d}",
                f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                timezone,
                habit,
                country,
                rng.randint(12, 40),
                rng.randint(5, 30),
                {
                    "en": rng.uniform(1, 3),
                    "acc": rng.uniform(0.2, 2),
                    "amp": rng.uniform(0.2, 2),
                    "ja": rng.uniform(0.1, 3),
                    "ru": rng.uniform(0.1, 1),
                },
                tuple(sorted(rng.sample(range(len(SHOWS)), k=rng.randint(1, 3)))),
            )
        )
    return tuple(specs)
