"""Per-app MusicBrainz state: `MbServerState` holds the knobs tests change (`min_interval_s`,
`fixture_dir`), the `Arrival` log and last-served times the rate limit keeps, and the world's
`MbIndex`; `mb_state` finds or creates it on an EmulatorState and `index_of` builds the index
once per app.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spotify_assets.emulator.musicbrainz.index import MbIndex

# --- per-app state -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Arrival:
    """One request as the server saw it (for tests of the client's rate limiting)."""

    at: float
    client: tuple[str, str]
    path: str
    status: int


@dataclass
class MbServerState:
    """MusicBrainz state of one emulator app; tests may change the knobs directly."""

    min_interval_s: float = 1.0
    fixture_dir: Path | None = None
    arrivals: deque[Arrival] = field(default_factory=lambda: deque(maxlen=100_000))
    last_served: dict[tuple[str, str], float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    index: MbIndex | None = None

    def reset(self) -> None:
        """Forget clients and arrivals, back to 1 req/s (the index of the world stays)."""
        with self.lock:
            self.min_interval_s = 1.0
            self.arrivals.clear()
            self.last_served.clear()

    def served_times(self) -> list[float]:
        """Arrival times of the requests that were served (not refused), oldest first."""
        with self.lock:
            return sorted(a.at for a in self.arrivals if a.status not in (403, 503))


def mb_state(state: Any) -> MbServerState:
    """The MusicBrainz part of an EmulatorState, created on first use."""
    existing = getattr(state, "musicbrainz", None)
    if isinstance(existing, MbServerState):
        return existing
    created = MbServerState()
    state.musicbrainz = created
    return created


def index_of(state: Any) -> MbIndex:
    mbs = mb_state(state)
    with mbs.lock:
        if mbs.index is None:
            mbs.index = MbIndex.build(state.world)
        return mbs.index
