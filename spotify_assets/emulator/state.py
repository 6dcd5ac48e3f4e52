"""Everything one running emulator knows (`EmulatorState`) and its clock: what every route,
the middleware and tests read and switch. It imports only the emulator's data modules (world,
tokens, faults, the Web API's models), never a module with routes, so nothing imports back.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

from spotify_assets.emulator.faults import FaultEngine, sleep_unless
from spotify_assets.emulator.spotify_api.models import Playlist, playlist_id
from spotify_assets.emulator.spotify_api.recent import recent_index
from spotify_assets.emulator.tokens import Accounts
from spotify_assets.emulator.world import Play, World, WorldConfig


class Clock:
    """The emulator's notion of now: real UTC time unless a test fixes it."""

    def __init__(self) -> None:
        self.fixed: datetime | None = None
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            fixed = self.fixed
        return fixed if fixed is not None else datetime.now(UTC)

    def set(self, value: datetime | None) -> None:
        if value is not None and value.tzinfo is None:
            raise ValueError(f"clock time must be timezone-aware, got {value}")
        with self._lock:
            self.fixed = value.astimezone(UTC) if value is not None else None

    def advance(self, seconds: float) -> None:
        """Move the clock forward (fixing it first if it follows real time)."""
        self.set(self.now() + timedelta(seconds=seconds))


class EmulatorState:
    """Everything one running emulator knows and every switch tests can flip."""

    def __init__(self, config: WorldConfig, *, mb_test_mode: bool = False) -> None:
        self.world = World(config)
        self.config = self.world.config
        self.clock = Clock()
        self.faults = FaultEngine()
        self.request_counts: Counter[str] = Counter()
        self.accounts = Accounts(list(self.world.users), self.clock.now)
        self.issued_tokens = self.accounts.tokens
        self.extended_quota = False
        self.mb_test_mode = mb_test_mode
        self.playlists: dict[str, Playlist] = {}
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._recent: dict[str, tuple[list[Play], list[int]]] = {}

    def count_request(self, template: str) -> None:
        with self._lock:
            self.request_counts[template] += 1

    def request_counts_snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(sorted(self.request_counts.items()))

    def reset_request_counts(self) -> None:
        with self._lock:
            self.request_counts.clear()

    def reset(self) -> None:
        """Back to defaults between tests: no faults, real clock, zero counts, dev mode."""
        self.faults.clear()
        self.clock.set(None)
        self.reset_request_counts()
        self.extended_quota = False

    def recent_index(self, user_id: str) -> tuple[list[Play], list[int]]:
        if user_id not in self._recent:
            self._recent[user_id] = recent_index(self.world, user_id)
        return self._recent[user_id]

    def new_playlist(
        self, owner: str, name: str, description: str, public: bool, collaborative: bool
    ) -> Playlist:
        with self._lock:
            ident = playlist_id(self.config.seed, len(self.playlists) + 1)
            playlist = Playlist(ident, owner, name, description, public, collaborative)
            playlist.followers.add(owner)
            self.playlists[ident] = playlist
        return playlist

    async def sleep(self, seconds: float) -> None:
        await sleep_unless(self.stopping, seconds)
