"""Fixtures of the MusicBrainz enrichment tests: the session emulator with MusicBrainz's rate
limit off (client and server), one user logged in through the real flow (album bodies need a
token), the world's track plays in the `plays` lake table as polling leaves them, and helpers
to materialize the assets and read the emulator's request counter."""

from __future__ import annotations

import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import dagster as dg
import pytest

from spotify_assets.bench.musicbrainz import world_plays, write_plays
from spotify_assets.defs.musicbrainz.albums import spotify_albums
from spotify_assets.defs.musicbrainz.assets import ENRICHMENT_OP, genres, musicbrainz_enrichment
from spotify_assets.defs.resources import Warehouse, build_resources
from spotify_assets.emulator.musicbrainz import mb_state
from spotify_assets.emulator.server import EmulatorHandle
from spotify_assets.emulator.world import World
from spotify_assets.lib.musicbrainz.client import MusicBrainzClient
from spotify_assets.lib.orchestrate import QUIET
from spotify_assets.lib.settings import Settings
from spotify_assets.lib.users.login import login
from spotify_assets.lib.users.registry import UserRegistry

ALBUM_ENDPOINT = "GET /v1/albums/{id}"
ASSETS = (spotify_albums, musicbrainz_enrichment, genres)
USER = "demo_heavy"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fast_client(settings: Settings) -> MusicBrainzClient:
    """The real client, without its 1 s spacing (the emulator's limit is off too)."""
    return MusicBrainzClient(settings, sleep=lambda _: None, min_interval_s=0.0)


@dataclass
class Enrichment:
    settings: Settings
    emulator: EmulatorHandle
    warehouse: Warehouse
    resources: dict[str, Any]
    instance: dg.DagsterInstance

    @property
    def world(self) -> World:
        return self.emulator.state.world

    def materialize(
        self, assets: Sequence[Any] = ASSETS, max_entities: int = 10_000, **kwargs: Any
    ) -> dg.ExecuteInProcessResult:
        run_config: dict[str, Any] = dict(QUIET)
        if musicbrainz_enrichment in assets:
            run_config["ops"] = {ENRICHMENT_OP: {"config": {"max_entities": max_entities}}}
        return dg.materialize(
            list(assets), resources=self.resources, instance=self.instance,
            run_config=run_config, **kwargs,
        )

    def counts(self) -> dict[str, int]:
        return self.emulator.state.request_counts_snapshot()

    def mb_requests(self) -> int:
        return sum(n for endpoint, n in self.counts().items() if "/ws/2/" in endpoint)

    def album_requests(self) -> int:
        return self.counts().get(ALBUM_ENDPOINT, 0)


@pytest.fixture
def mb_fast(emu: EmulatorHandle) -> Iterator[EmulatorHandle]:
    """The session emulator with MusicBrainz's 1 request/s off; restored afterwards."""
    state = mb_state(emu.state)
    state.reset()
    state.min_interval_s = 0.0
    yield emu
    state.reset()


@pytest.fixture
def enrichment(mb_fast: EmulatorHandle, emu_settings: Settings) -> Iterator[Enrichment]:
    settings = emu_settings.model_copy(
        update={"spotify_redirect_uri": f"http://127.0.0.1:{free_port()}/callback",
                "token_key": None}
    )
    login(settings, UserRegistry(settings), emulator_user=USER, open_browser=False,
          out=lambda _: None)
    warehouse = Warehouse(settings)
    write_plays(warehouse, world_plays(mb_fast.state.world))
    resources = build_resources(settings)
    resources["musicbrainz"] = fast_client(settings)
    mb_fast.state.reset_request_counts()
    with dg.instance_for_test() as instance:
        yield Enrichment(settings, mb_fast, warehouse, resources, instance)
