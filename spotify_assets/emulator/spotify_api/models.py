"""The emulator's own records behind the Web API: a `Playlist` created through it (kept on the
emulator state, which names it with `playlist_id`, deterministic per seed) and the `Caller` a
bearer token resolves to (user and granted scopes).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from spotify_assets.emulator.world import spotify_id, stable_digest


@dataclass
class Playlist:
    id: str
    owner: str
    name: str
    description: str
    public: bool
    collaborative: bool
    items: list[tuple[str, str, str]] = field(default_factory=list)  # (uri, added_at, added_by)
    version: int = 1
    # Users with the playlist in their library. Deleting a playlist in Spotify removes it from
    # the owner's library; the playlist itself stays readable by id.
    followers: set[str] = field(default_factory=set)

    @property
    def snapshot_id(self) -> str:
        return stable_digest("snapshot", self.id, self.version)[:32]


@dataclass
class Caller:
    user_id: str
    scopes: frozenset[str]


def playlist_id(seed: int, serial: int) -> str:
    """Deterministic playlist ids: the n-th playlist created in a world of this seed."""
    return spotify_id(random.Random(f"{seed}:playlist:{serial}"))
