"""The pipeline's "now": the wall clock, unless `SPOTIFY_ASSETS_NOW` pins it.

Decisions that depend on the present (which top-list day can still be fetched from Spotify, a
cooldown) read it here, so tests and a demo pinned to a fixed world end are reproducible, and a
test that runs across midnight UTC gets the same answer as one that does not.
"""

from __future__ import annotations

from datetime import UTC, datetime

from spotify_assets.lib.settings import Settings


def now(settings: Settings) -> datetime:
    return settings.now if settings.now is not None else datetime.now(UTC)


def floor_ms(moment: datetime) -> datetime:
    """`moment` cut to the millisecond, the precision the lake's timestamps keep: a value
    compared with or written beside a stored one must not carry more."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)
