"""Fixtures of the tops tests: users enrolled through the real login against the emulator,
and helpers to materialize assets and read the emulator's request counter."""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import dataclass

import dagster as dg
import httpx
import pytest

from spotify_assets.defs.resources import Warehouse, build_resources
from spotify_assets.lib.settings import Settings
from spotify_assets.lib.users.login import login
from spotify_assets.lib.users.registry import UserRegistry
from spotify_assets_tests.conftest import EMULATOR_TEST_CONFIG

TOP_ENDPOINT = "GET /v1/me/top/{type}"
NOW = EMULATOR_TEST_CONFIG.end
# A heavy listener, one in Tokyo, and a light one whose lists are shorter than 50.
USERS = ("demo_heavy", "demo_tokyo", "demo_light")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Enrolled:
    settings: Settings
    registry: UserRegistry
    users: tuple[str, ...]
    base_url: str

    @property
    def warehouse(self) -> Warehouse:
        return Warehouse(self.settings)

    def materialize(
        self,
        assets: Sequence[dg.AssetsDefinition],
        partition_key: str | None = None,
        **kwargs,
    ) -> dg.ExecuteInProcessResult:
        return dg.materialize(
            list(assets),
            resources=build_resources(self.settings),
            partition_key=partition_key,
            instance=dg.DagsterInstance.ephemeral(),
            **kwargs,
        )

    def control(self, method: str, path: str, body: object = None) -> dict:
        response = httpx.request(method, f"{self.base_url}/_emulator/{path}", json=body)
        response.raise_for_status()
        return response.json()

    def top_requests(self) -> int:
        return self.control("GET", "requests")["counts"].get(TOP_ENDPOINT, 0)

    def reset_requests(self) -> None:
        self.control("POST", "requests/reset")


@pytest.fixture
def enrolled(emu, emu_settings: Settings) -> Enrolled:
    """USERS logged in through the real PKCE flow, with their world timezones; zero counts."""
    settings = emu_settings.model_copy(
        update={
            "spotify_redirect_uri": f"http://127.0.0.1:{_free_port()}/callback",
            "token_key": None,
            # The pipeline's "now" is the world's: today's lists can be fetched, and a test
            # that runs across midnight UTC sees the same day.
            "now": NOW,
        }
    )
    registry = UserRegistry(settings)
    for uid in USERS:
        login(settings, registry, emulator_user=uid, open_browser=False, out=lambda _: None)
        registry.set_timezone(uid, emu.state.world.users[uid].timezone)
    enrolled = Enrolled(settings, registry, USERS, emu.base_url)
    enrolled.reset_requests()
    return enrolled


def today() -> str:
    return NOW.date().isoformat()


def metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict:
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        if materialization.asset_key == dg.AssetKey(asset):
            return {k: v.value for k, v in materialization.metadata.items()}
    raise AssertionError(f"no materialization of {asset}")


def charted(md: str) -> list[tuple[str, float]]:
    """The (label, value) pairs written beneath a chart (`defs.previews.bar_chart`), in order."""
    assert md.startswith("![") and "data:image/png;base64," in md
    text = md.split("\n\n", 1)[1]
    pairs = []
    for part in text.split("; "):
        label, value = part.rsplit(": ", 1)
        pairs.append((label.replace("\\|", "|").replace("&lt;", "<"), float(value)))
    return pairs


def shared_by_listeners(lists: dict[str, list[str]], limit: int = 10) -> list[tuple[str, float]]:
    """Independently: labels on at least 2 listeners' lists, most listeners first, then by
    label; what a tops chart may show without naming anyone's own item."""
    counts: dict[str, int] = {}
    for labels in lists.values():
        for label in set(labels):
            counts[label] = counts.get(label, 0) + 1
    shared = sorted((-n, label) for label, n in counts.items() if n >= 2)
    return [(label, float(-n)) for n, label in shared[:limit]]
