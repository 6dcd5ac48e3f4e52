"""Shared fixtures: one local emulator per test session (per xdist worker) on a free port.

`emulator` is the session-wide handle; `emu` is the same handle reset before and after each test
(no faults, real clock, zero request counts, dev mode, the test's playlists gone); `emu_settings`
points the project's settings at that emulator and a temporary data directory. `demo` and
`demo_as_left` are the demo's pipeline run once for the tests that read it
(`demo_deployment.py`). The session's order and spreading over xdist workers are in
`scheduling.py`, what it skips paying again and again (TLS contexts, disk waits) in `speedups.py`.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from spotify_assets.emulator.server import EmulatorHandle, running_emulator
from spotify_assets.emulator.world import WorldConfig
from spotify_assets.lib.settings import EMULATOR_CLIENT_ID, Settings, load_settings
from spotify_assets_tests import demo_deployment, scheduling
from spotify_assets_tests.demo_deployment import DemoDeployment
from spotify_assets_tests.speedups import DISK_TMP, share_tls_context, temp_files_on_tmpfs

# Small enough to build in a few tens of milliseconds, big enough for albums and >50 plays.
# Its end is pinned, so a test sees the same world whatever the hour (the default is "now").
EMULATOR_TEST_CONFIG = WorldConfig(
    seed=42, days=7, n_artists=40, n_tracks=400, end=datetime(2026, 3, 10, 12, tzinfo=UTC)
)


def pytest_configure(config: pytest.Config) -> None:
    # In the controller before xdist starts its workers, which inherit TMPDIR; see speedups.py.
    temp_files_on_tmpfs()
    share_tls_context()
    heed_interrupts()


def heed_interrupts() -> None:
    """Started in the background (`make test &`, a CI runner), the suite inherits SIGINT
    ignored. Dagster maps SIGTERM to SIGINT's handler, so SIGTERM became ignored too, and
    every process a test spawned inherited that: a multiprocessing pool's `terminate` then
    waited forever for a worker blocked on the pool's queue lock (it hung a clean clone's
    `.ci/run` in test_ratelimit). Each process of the suite (controller and xdist workers)
    takes Python's default SIGINT handler back."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if signal.getsignal(signal.SIGTERM) is signal.SIG_IGN:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    scheduling.order(items)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    return scheduling.make_scheduler(config, log)


@pytest.fixture(scope="session")
def emulator() -> Iterator[EmulatorHandle]:
    with running_emulator(EMULATOR_TEST_CONFIG) as handle:
        yield handle


@pytest.fixture
def emu(emulator: EmulatorHandle) -> Iterator[EmulatorHandle]:
    emulator.state.reset()
    playlists = set(emulator.state.playlists)
    yield emulator
    emulator.state.reset()
    # The playlists a test made go with it: a later test on this worker counts the playlists
    # of a user (whichever tests ran before it, in whatever order).
    for ident in set(emulator.state.playlists) - playlists:
        del emulator.state.playlists[ident]


@pytest.fixture
def disk_tmp_path(tmp_path: Path) -> Iterator[Path]:
    """A folder on the disk even where the session's temporary files are on tmpfs
    (speedups.py), for a test that needs a write to take disk time (to kill it mid-write)."""
    root = os.environ.get(DISK_TMP)
    if not root:
        yield tmp_path
        return
    path = Path(tempfile.mkdtemp(prefix="spotify-assets-test-", dir=root))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def emu_settings(tmp_path: Path, emulator: EmulatorHandle) -> Settings:
    return emulator_settings(emulator, tmp_path / "data")


def emulator_settings(emulator: EmulatorHandle, data_dir: Path) -> Settings:
    """The project's settings pointed at `emulator`, with `data_dir` (`emu_settings`, for
    fixtures of a wider scope)."""
    return load_settings(
        mode="emulator",
        data_dir=data_dir,
        emulator_port=emulator.port,
        spotify_api_url=emulator.base_url,
        spotify_accounts_url=emulator.base_url,
        musicbrainz_url=emulator.base_url,
        spotify_client_id=EMULATOR_CLIENT_ID,
        # A port of its own: xdist workers enrolling users at once would share 8888.
        spotify_redirect_uri=f"http://127.0.0.1:{_free_port()}/callback",
    )


@pytest.fixture(scope="session")
def demo_deployment_shared(
    emulator: EmulatorHandle, tmp_path_factory: pytest.TempPathFactory
) -> DemoDeployment:
    """The demo's pipeline, run once per worker for the tests of `demo_deployment.CONSUMERS`."""
    return demo_deployment.build(tmp_path_factory.mktemp("demo-deployment"), emulator)


@pytest.fixture
def demo(
    request: pytest.FixtureRequest, demo_deployment_shared: DemoDeployment, emu: EmulatorHandle
) -> Iterator[DemoDeployment]:
    """The shared deployment after the demo's pipeline (and the tests before this one), its
    environment applied for this test."""
    with demo_deployment_shared.applied(emu):
        yield demo_deployment_shared
    demo_deployment_shared.used_by.append(request.node.nodeid)


@pytest.fixture
def demo_as_left(
    request: pytest.FixtureRequest, emu: EmulatorHandle, tmp_path: Path
) -> Iterator[DemoDeployment]:
    """The deployment exactly as the demo's pipeline left it: the shared one if no test used
    it yet (the usual case, see `demo_deployment`), else one built for this test."""
    shared = request.getfixturevalue("demo_deployment_shared")
    deployment = demo_deployment.build(tmp_path / "demo", emu) if shared.used_by else shared
    with deployment.applied(emu):
        yield deployment
    deployment.used_by.append(request.node.nodeid)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def record_fault(
    request: pytest.FixtureRequest, fault: str, *, lost_rows: int, others: str, note: str = ""
) -> None:
    """A fault-suite case's outcome, printed in the summary line of `pytest_terminal_summary`."""
    request.node.user_properties.append(
        ("fault", {"fault": fault, "lost_rows": lost_rows, "others": others, "note": note})
    )


def pytest_terminal_summary(terminalreporter) -> None:
    """One line per fault of the fault suite (issue 14), also when run on xdist workers."""
    lines = []
    for outcome in ("passed", "failed"):
        for report in terminalreporter.stats.get(outcome, []):
            for name, value in getattr(report, "user_properties", []):
                if name == "fault" and report.when == "call":
                    lines.append(
                        f"fault: {value['fault']} | {outcome} | lost rows: {value['lost_rows']} "
                        f"| other users affected: {value['others']}"
                        + (f" | {value['note']}" if value["note"] else "")
                    )
    if lines:
        terminalreporter.section("fault suite")
        for line in sorted(lines):
            terminalreporter.write_line(line)
