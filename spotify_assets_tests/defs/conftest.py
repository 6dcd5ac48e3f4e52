"""A pipeline against the session's emulator: a fresh data dir, every demo user enrolled
through the real login flow, the project's resources, and a Dagster instance for the test."""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import dagster as dg
import httpx
import pytest

from spotify_assets.defs.resources import Warehouse, build_resources
from spotify_assets.emulator.server import EmulatorHandle
from spotify_assets.lib import catalog
from spotify_assets.lib.settings import Settings
from spotify_assets.lib.users.login import login
from spotify_assets.lib.users.registry import UserRegistry

DEMO_USERS = ["demo_heavy", "demo_skipper", "demo_tokyo", "demo_podcast", "demo_light"]


@dataclass
class Pipeline:
    settings: Settings
    emulator: EmulatorHandle
    registry: UserRegistry
    resources: dict[str, Any]
    instance: dg.DagsterInstance

    def control(self, method: str, path: str, **kwargs: Any) -> Any:
        response = httpx.request(method, f"{self.emulator.base_url}/_emulator/{path}", **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None

    def materialize(self, assets: list, **kwargs: Any) -> dg.ExecuteInProcessResult:
        return dg.materialize(assets, resources=self.resources, instance=self.instance, **kwargs)

    @property
    def warehouse(self) -> Warehouse:
        return self.resources["warehouse"]

    def query(self, sql: str, params: list | None = None) -> list[tuple]:
        """`sql` through the published catalog, as an analyst would run it."""
        self.warehouse.publish()
        con = catalog.connect(self.settings.warehouse_path)
        try:
            return con.execute(sql, params or []).fetchall()
        finally:
            con.close()

    def current_files(self) -> dict[tuple[str, str], str]:
        """(table, partition) -> the lake path of its current file: file names are hashes of
        their bytes, so equal maps mean byte-identical lakes."""
        return {(e.table, e.partition): e.path for e in self.warehouse.lake.manifest.current()}


@pytest.fixture
def pipeline(emu: EmulatorHandle, emu_settings: Settings) -> Iterator[Pipeline]:
    registry = UserRegistry(emu_settings)
    for user_id in DEMO_USERS:
        login(emu_settings, registry, emulator_user=user_id, open_browser=False, timeout_s=30)
    with dg.instance_for_test() as instance:
        yield Pipeline(emu_settings, emu, registry, build_resources(emu_settings), instance)
