"""A user's counted plays, prepared for bisecting by time (recently-played's index)."""

from __future__ import annotations

from spotify_assets.emulator.world import COUNTED_MS, Play, World, datetime_to_ms


def recent_index(world: World, user_id: str) -> tuple[list[Play], list[int]]:
    """Counted track plays of a user (oldest first) and their ended_at in ms, for bisect."""
    plays = [p for p in world.plays(user_id) if p.kind == "track" and p.ms_played >= COUNTED_MS]
    return plays, [datetime_to_ms(p.ended_at) for p in plays]
