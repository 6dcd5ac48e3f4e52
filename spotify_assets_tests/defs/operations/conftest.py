"""A deployment as the CLI runs it: settings from the environment (the runs' resources read
them there), its own Dagster home, demo users enrolled against the session's emulator."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import httpx
import pytest

from spotify_assets.emulator.server import EmulatorHandle
from spotify_assets.lib.settings import Settings, get_settings
from spotify_assets.lib.users.login import login
from spotify_assets.lib.users.registry import UserRegistry


@dataclass
class Deployment:
    settings: Settings
    emulator: EmulatorHandle
    registry: UserRegistry
    instance: dg.DagsterInstance

    def control(self, method: str, path: str, **kwargs) -> object:
        response = httpx.request(method, f"{self.emulator.base_url}/_emulator/{path}", **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None


def enroll(settings: Settings, registry: UserRegistry, emu: EmulatorHandle, users) -> None:
    world = emu.state.world
    for user_id in users:
        login(settings, registry, emulator_user=user_id, open_browser=False, timeout_s=30)
        registry.set_timezone(user_id, world.users[user_id].timezone)


def use_deployment_env(
    emu_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **extra: str
) -> Settings:
    """Put a deployment's settings in the environment, as an operator's shell has them (runs
    read them there): the emulator's data folder and port, a new Dagster home under `tmp_path`,
    and `extra`. Returns the settings they load to."""
    env = {
        **extra,
        "SPOTIFY_ASSETS_DATA_DIR": str(emu_settings.data_dir),
        "SPOTIFY_ASSETS_EMULATOR_PORT": str(emu_settings.emulator_port),
        "SPOTIFY_REDIRECT_URI": emu_settings.spotify_redirect_uri,
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    (tmp_path / "dagster_home").mkdir()
    get_settings.cache_clear()
    return get_settings()


@pytest.fixture
def deployment(
    emu: EmulatorHandle, emu_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Deployment]:
    settings = use_deployment_env(emu_settings, tmp_path, monkeypatch)
    from spotify_assets.lib.instance import deployment_instance

    instance = deployment_instance(settings)
    try:
        yield Deployment(settings, emu, UserRegistry(settings), instance)
    finally:
        instance.dispose()
        get_settings.cache_clear()
