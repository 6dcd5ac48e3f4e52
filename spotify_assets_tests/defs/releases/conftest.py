"""Fixtures of the releases tests: the five demo users enrolled through the real login against
the session emulator, the project's resources, the emulator clock set to a weekly schedule's
tick, and ground truth computed from the emulator's world (its albums, release days and follows),
independently of the emulator's own listing code."""

from __future__ import annotations

import math
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import dagster as dg
import httpx
import pytest

from spotify_assets.defs.releases.appearances import album_appearances
from spotify_assets.defs.releases.artists import artist_releases, followed_artists
from spotify_assets.defs.releases.radar import release_radar, release_radar_playlists
from spotify_assets.defs.releases.trending import trending_artists
from spotify_assets.defs.resources import Warehouse, build_resources
from spotify_assets.emulator.server import EmulatorHandle
from spotify_assets.emulator.world import World, datetime_to_ms
from spotify_assets.lib.orchestrate import QUIET
from spotify_assets.lib.settings import Settings
from spotify_assets.lib.users.login import login
from spotify_assets.lib.users.registry import UserRegistry

USERS = ("demo_heavy", "demo_skipper", "demo_tokyo", "demo_podcast", "demo_light")
ALBUMS = "GET /v1/artists/{id}/albums"
FOLLOWING = "GET /v1/me/following"
RADAR_ASSETS = (followed_artists, artist_releases, release_radar)
ALL_ASSETS = (*RADAR_ASSETS, release_radar_playlists, trending_artists, album_appearances)
# The weeks around the test world's recent releases (2026-02-18 .. 2026-03-09).
WEEKS = (date(2026, 2, 16), date(2026, 2, 23), date(2026, 3, 2))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tick(week: date) -> datetime:
    """When `release_radar_schedule` runs for `week`: the Monday after, 06:00 UTC."""
    return datetime.combine(week + timedelta(days=7), time(6), tzinfo=UTC)


@dataclass
class Radar:
    settings: Settings
    emulator: EmulatorHandle
    registry: UserRegistry
    instance: dg.DagsterInstance
    resources_override: dict[str, Any] | None = None

    @property
    def world(self) -> World:
        return self.emulator.state.world

    @property
    def warehouse(self) -> Warehouse:
        return Warehouse(self.settings)

    def at(self, moment: datetime) -> None:
        self.emulator.state.clock.set(moment)

    def materialize(
        self, assets: Sequence[Any], partition_key: str | None = None, *,
        settings: Settings | None = None, overrides: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> dg.ExecuteInProcessResult:
        resources = {**build_resources(settings or self.settings), **(overrides or {})}
        return dg.materialize(
            list(assets), partition_key=partition_key, resources=resources,
            instance=self.instance, run_config={**QUIET, **kwargs.pop("run_config", {})},
            **kwargs,
        )

    def run_week(self, week: date, assets: Sequence[Any] = RADAR_ASSETS,
                 **kwargs: Any) -> dg.ExecuteInProcessResult:
        """The weekly run for `week` at its schedule tick."""
        self.at(tick(week))
        result = self.materialize(assets, week.isoformat(), **kwargs)
        assert result.success
        return result

    def counts(self) -> dict[str, int]:
        return self.emulator.state.request_counts_snapshot()

    def reset_counts(self) -> None:
        self.emulator.state.reset_request_counts()

    def control(self, method: str, path: str, body: object = None) -> Any:
        answer = httpx.request(method, f"{self.emulator.base_url}/_emulator/{path}", json=body)
        answer.raise_for_status()
        return answer.json()


@pytest.fixture
def radar(emu: EmulatorHandle, emu_settings: Settings) -> Radar:
    settings = emu_settings.model_copy(
        update={"spotify_redirect_uri": f"http://127.0.0.1:{free_port()}/callback",
                "token_key": None}
    )
    registry = UserRegistry(settings)
    for user_id in USERS:
        login(settings, registry, emulator_user=user_id, open_browser=False, out=lambda _: None)
    emu.state.reset_request_counts()
    with dg.instance_for_test() as instance:
        yield Radar(settings, emu, registry, instance)


def metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict:
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        if materialization.asset_key == dg.AssetKey(asset):
            return {k: v.value for k, v in materialization.metadata.items()}
    raise AssertionError(f"no materialization of {asset}")


# --- ground truth from the world -----------------------------------------------------------------


def out_by(world: World, album_id: str, moment: datetime) -> bool:
    """Listed by then: the emulator lists a release from 00:00 UTC of its day."""
    return world.album_release_ms[album_id] <= datetime_to_ms(moment)


def credited(world: World, album_id: str) -> set[str]:
    """Every artist an album's listing shows under: its artists, and those on its tracks."""
    album = world.albums[album_id]
    return set(album.artist_ids) | {a for t in album.track_ids for a in world.tracks[t].artist_ids}


def listing_size(world: World, artist: str, moment: datetime) -> int:
    own = [a for a in world.artist_album_ids[artist] if out_by(world, a, moment)]
    guest = [a for a in world.appears_on(artist) if out_by(world, a, moment)]
    return len(own) + len(guest)


def pages(world: World, artists: Iterable[str], moment: datetime) -> int:
    """Requests to read every listing whole: 10 a page, an empty listing still one request."""
    return sum(max(1, math.ceil(listing_size(world, a, moment) / 10)) for a in artists)


def followed(world: World, users: Iterable[str] = USERS) -> set[str]:
    return {a for u in users for a in world.users[u].followed_artist_ids}


def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def radar_week_truth(world: World, album_id: str, weeks: Sequence[date]) -> date | None:
    """The documented rule, from the world's true day and precision and the run sequence
    `weeks` (each run at its tick): a day-precision release is in the week of its day; a
    month- or year-precision one in the week of the first run that listed it, if that week
    lies partly in its month or year."""
    album = world.albums[album_id]
    if album.release_date_precision == "day":
        return monday(date.fromisoformat(album.release_date))
    first = next((w for w in weeks if out_by(world, album_id, tick(w))), None)
    if first is None:
        return None
    shown = album.shown_release_date
    days = {first + timedelta(days=n) for n in range(7)}
    return first if any(d.isoformat().startswith(shown) for d in days) else None


def radar_truth(world: World, week: date, weeks: Sequence[date],
                users: Iterable[str] = USERS) -> dict[tuple[str, str], set[str]]:
    """(user, album) -> the user's followed artists it credits, for the week's radar."""
    truth: dict[tuple[str, str], set[str]] = {}
    for album_id in world.albums:
        if not out_by(world, album_id, tick(week)):
            continue
        if radar_week_truth(world, album_id, weeks) != week:
            continue
        for user in users:
            matched = credited(world, album_id) & set(world.users[user].followed_artist_ids)
            if matched:
                truth[(user, album_id)] = matched
    return truth
