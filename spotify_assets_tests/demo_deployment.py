"""One run of the demo's whole pipeline into a deployment, shared by the tests that each check
something else of it (the pipeline costs ~40 s of CPU; three tests each ran their own):

1. `defs/operations/test_rebuild.py`: delete the lake, rebuild it from raw, the same files.
2. `test_demo.py::test_no_token_in_any_file_or_log_after_a_full_run`: no token, user id or
   single listener's name in any file, log or the Dagster instance.
3. `test_ui.py`: `dagster dev` on the deployment, in headless Chromium.

They run in that order, in one process (conftest's `pytest_collection_modifyitems` keeps them
together and in order, `scheduling.py` on one xdist worker): the rebuild needs the deployment as
the pipeline left it (`demo_as_left` builds a new one if another test used it first); the token
test revokes a listener and then reads every file the two tests wrote; the UI comes last, as
`dagster dev`'s daemon may start runs of its own.

The deployment is what the rebuild test always ran: the settings in the environment as an
operator's shell has them (runs read them there), its own Dagster home, "now" pinned to the
world's last day (so its top lists can be read), MusicBrainz's 1 req/s lifted on both sides.
Every log record of the pipeline and of the tests on it is kept (`log`) for the token test.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from spotify_assets.emulator.server import EmulatorHandle
from spotify_assets.lib.settings import Settings, get_settings

# The tests on it, in the order they run (nodeid suffixes).
CONSUMERS = (
    "defs/operations/test_rebuild.py::test_after_the_whole_pipeline_every_table_comes_back_from_raw",
    "test_demo.py::test_no_token_in_any_file_or_log_after_a_full_run",
    "test_ui.py::test_the_dagster_ui_shows_the_graph_an_asset_and_a_run",
)


@dataclass
class DemoDeployment:
    settings: Settings
    env: dict[str, str]
    demo_jobs: set[str]  # the job names of the pipeline's runs, read when it ended
    log: list[str] = field(default_factory=list, repr=False)
    used_by: list[str] = field(default_factory=list)

    @property
    def home(self) -> Path:
        return Path(self.env["DAGSTER_HOME"])

    def instance(self):
        from spotify_assets.lib.instance import deployment_instance

        return deployment_instance(self.settings)

    @contextlib.contextmanager
    def applied(self, emulator: EmulatorHandle) -> Iterator[Settings]:
        """The deployment's environment, MusicBrainz unthrottled and every log record kept,
        for the time of one test (or of the pipeline)."""
        from spotify_assets.emulator.musicbrainz import mb_state

        with pytest.MonkeyPatch.context() as patch, keep_log(self.log):
            for name, value in self.env.items():
                patch.setenv(name, value)
            get_settings.cache_clear()
            mb_state(emulator.state).min_interval_s = 0.0
            try:
                yield get_settings()
            finally:
                mb_state(emulator.state).reset()
                get_settings.cache_clear()


def build(root: Path, emulator: EmulatorHandle) -> DemoDeployment:
    """The demo's pipeline (`demo.run_pipeline`) on the session's emulator into `root`."""
    from spotify_assets.demo import run_pipeline
    from spotify_assets_tests.conftest import _free_port

    emulator.state.reset()  # no faults, real clock, as the `emu` fixture leaves it
    home = root / "dagster_home"
    home.mkdir(parents=True)
    env = {
        "SPOTIFY_ASSETS_DATA_DIR": str(root / "data"),
        "SPOTIFY_ASSETS_EMULATOR_PORT": str(emulator.port),
        # A port of its own: xdist workers enrolling users at once would share 8888.
        "SPOTIFY_REDIRECT_URI": f"http://127.0.0.1:{_free_port()}/callback",
        "DAGSTER_HOME": str(home),
        # As the demo pins it: the world's last day is "today", its top lists can be read.
        "SPOTIFY_ASSETS_NOW": emulator.state.world.end.isoformat(),
        "MUSICBRAINZ_MIN_INTERVAL": "0",
    }
    deployment = DemoDeployment(settings=None, env=env, demo_jobs=set())  # type: ignore[arg-type]
    with deployment.applied(emulator) as settings:
        deployment.settings = settings
        instance = deployment.instance()
        try:
            run_pipeline(settings, emulator.base_url, instance)
            deployment.demo_jobs = {r.job_name for r in instance.get_runs()}
        finally:
            instance.dispose()
    return deployment


class _Kept(logging.Handler):
    def __init__(self, lines: list[str]) -> None:
        super().__init__(logging.DEBUG)
        self.lines = lines
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@contextlib.contextmanager
def keep_log(lines: list[str]) -> Iterator[None]:
    """Every record any logger emits (DEBUG and up, as `caplog.set_level("DEBUG")` sees
    them), formatted with its exception, appended to `lines`."""
    root = logging.getLogger()
    handler, level = _Kept(lines), root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def consumer_rank(nodeid: str) -> int | None:
    """The place of a test of `CONSUMERS` in their order (None for any other test)."""
    for index, suffix in enumerate(CONSUMERS):
        if nodeid.endswith(suffix):
            return index
    return None


def order_consumers(items: list[pytest.Item]) -> None:
    """Put the tests on the shared deployment next to each other, in `CONSUMERS` order, where
    the first of them was collected."""
    ours = sorted((i for i in items if consumer_rank(i.nodeid) is not None),
                  key=lambda i: consumer_rank(i.nodeid))  # fmt: skip
    if not ours:
        return
    first = next(n for n, i in enumerate(items) if consumer_rank(i.nodeid) is not None)
    rest = [i for i in items if consumer_rank(i.nodeid) is None]
    items[:] = rest[:first] + ours + rest[first:]
