"""Fixtures of the wrapped tests: the world's true plays written into `plays` as the listening
merge leaves them, its MusicBrainz genres as the `genres` table, users in the registry; and
helpers to run the wrapped's assets and read their metadata.

Plays from `polled_since` on look like polls matched to nothing (track, artist and album ids,
ISRC, no skip or shuffle flag); older ones like extended-export rows (track id and names, skip
and shuffle flags, no ISRC, no artist or album id). `listened_ms` is the exact `ms_played`.
"""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import dagster as dg
import pytest

from spotify_assets.definitions import defs
from spotify_assets.defs.musicbrainz.tables import GENRES
from spotify_assets.defs.resources import Warehouse, build_resources
from spotify_assets.defs.wrapped.captured import monthly_wrapped_captured
from spotify_assets.defs.wrapped.monthly import monthly_wrapped
from spotify_assets.defs.wrapped.playlists import monthly_wrapped_playlists
from spotify_assets.defs.wrapped.reports import monthly_wrapped_reports
from spotify_assets.defs.wrapped.schedules import monthly_wrapped_schedule
from spotify_assets.emulator.server import EmulatorHandle
from spotify_assets.emulator.world import World
from spotify_assets.lib.orchestrate import QUIET
from spotify_assets.lib.settings import Settings
from spotify_assets.lib.users.login import login
from spotify_assets.lib.users.registry import UserRegistry
from spotify_assets_tests.defs.world_plays import as_plays, truth_frame, write_plays

USERS = ("demo_heavy", "demo_skipper", "demo_tokyo", "demo_podcast", "demo_light")
# The session emulator's world has plays from 2026-03-03 to 03-10: its month is March, whose
# wrapped the schedule runs for on April 1st.
MONTH = date(2026, 3, 1)
TICK = datetime(2026, 4, 1, 0, 0, tzinfo=UTC)
LATE = "demo_light"  # enrolled after March: no captured part
ASSETS = [monthly_wrapped_captured, monthly_wrapped, monthly_wrapped_playlists,
          monthly_wrapped_reports]


def genre_rows(world: World) -> list[dict]:
    """The `genres` table's artist rows from the world's MusicBrainz truth."""
    rows = []
    for artist in world.artists.values():
        if artist.mb is None:
            continue
        ranked = sorted(artist.mb.genres, key=lambda g: (-g[1], g[0]))
        for rank, (genre, votes) in enumerate(ranked, start=1):
            rows.append(
                {
                    "entity": "artist",
                    "spotify_id": artist.id,
                    "genre": genre,
                    "count": votes,
                    "rank": rank,
                    "kind": "genre",
                    "via_artist_id": artist.id,
                }
            )
    return rows


def write_genres(warehouse: Warehouse, world: World) -> list[dict]:
    rows = genre_rows(world)
    warehouse.write(GENRES, rows)
    warehouse.publish()
    return rows


def backdate_enrollment(registry: UserRegistry, user_id: str, when: datetime) -> None:
    """Test setup only: users enroll at the wall clock's now, the test worlds are in the past."""
    con = sqlite3.connect(registry.path)
    try:
        con.execute(
            "update users set enrolled_at = ? where id = ?",
            (when.astimezone(UTC).isoformat(timespec="microseconds"), user_id),
        )
        con.commit()
    finally:
        con.close()


def materialize(
    settings: Settings,
    assets: Sequence[Any],
    instance: dg.DagsterInstance | None = None,
    **kwargs: Any,
) -> dg.ExecuteInProcessResult:
    result = dg.materialize(
        list(assets),
        resources=build_resources(settings),
        instance=instance or dg.DagsterInstance.ephemeral(),
        run_config=QUIET,
        **kwargs,
    )
    assert result.success
    return result


def metadata(result: dg.ExecuteInProcessResult, asset: str, partition: str | None = None) -> dict:
    """The metadata of the asset's materialization (of `partition`, when given)."""
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        if materialization.asset_key == dg.AssetKey(asset) and (
            partition is None or materialization.partition == partition
        ):
            return {k: v.value for k, v in materialization.metadata.items()}
    raise AssertionError(f"no materialization of {asset} {partition or ''}")


@pytest.fixture
def settings(emu_settings: Settings) -> Settings:
    return emu_settings.model_copy(update={"token_key": None})


def free_redirect(settings: Settings) -> Settings:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return settings.model_copy(update={"spotify_redirect_uri": f"http://127.0.0.1:{port}/callback"})


@pytest.fixture
def enrolled(emu: EmulatorHandle, settings: Settings) -> Settings:
    """Every demo user logged in through the real PKCE flow, with the world's timezones and,
    but for LATE, an enrollment before March; the world's plays in the lake."""
    return enroll_all(emu, settings)


def enroll_all(emu: EmulatorHandle, settings: Settings) -> Settings:
    """`enrolled`, for fixtures of a wider scope."""
    settings = free_redirect(settings)
    registry = UserRegistry(settings)
    world = emu.state.world
    for uid in USERS:
        login(settings, registry, emulator_user=uid, open_browser=False, out=lambda _: None)
        registry.set_timezone(uid, world.users[uid].timezone)
        if uid != LATE:
            backdate_enrollment(registry, uid, datetime(2026, 1, 15, tzinfo=UTC))
    write_plays(Warehouse(settings), as_plays(truth_frame(world), world.end - timedelta(days=1)))
    emu.state.reset_request_counts()
    return settings


def run_tick(settings: Settings, at: datetime, instance: dg.DagsterInstance,
             **extra: Any) -> dg.ExecuteInProcessResult:
    """What the schedule's tick at `at` asks for, executed in process."""
    context = dg.build_schedule_context(
        scheduled_execution_time=at, repository_def=defs().get_repository_def()
    )
    [request] = monthly_wrapped_schedule.evaluate_tick(context).run_requests
    return materialize(
        settings, ASSETS, instance, partition_key=request.partition_key,
        tags={**request.tags, **extra.pop("tags", {})},
        selection=request.asset_selection, **extra,
    )
