"""The operator's Dagster UI in a real browser (issue 17): the demo's pipeline on the emulator
(every run a named job), then `dagster dev` (webserver and daemon) on that deployment, a refresh
of the listening history launched through Dagster's GraphQL API and followed to its success,
and headless Chromium (Debian's `chromium`) on the asset graph, `daily_listening`'s page and the
run's page: each must show its asset names, "Materialized" and the run's success before it is
photographed.

Slow (one to three minutes) but in `make test`, which installs Debian's chromium where it can
(scripts/system-packages.sh; without it the test skips and says why). With
`SPOTIFY_ASSETS_UI_SHOTS=docs` the screenshots replace the README's in docs/.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from spotify_assets.emulator.server import EmulatorHandle
from spotify_assets.lib.orchestrate import RANGE_END_TAG, RANGE_START_TAG
from spotify_assets.lib.settings import Settings
from spotify_assets_tests.browser import CHROMIUM, Page, chromium
from spotify_assets_tests.conftest import _free_port
from spotify_assets_tests.dagster_dev import start_dagster_dev, stop
from spotify_assets_tests.demo_deployment import DemoDeployment

ROOT = Path(__file__).resolve().parents[1]
LOCATION = "spotify_assets"
LAUNCH = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on InvalidSubsetError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}
"""
RUN_STATUS = """
query Status($runId: ID!) {
  runOrError(runId: $runId) { __typename ... on Run { status jobName } }
}
"""

pytestmark = [
    pytest.mark.slow,
    pytest.mark.ui,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="Debian's chromium is not installed here (make test installs it: "
        "SYSTEM_PACKAGES in the Makefile)",
    ),
]


def _env(settings: Settings, emu: EmulatorHandle) -> dict[str, str]:
    """The deployment's settings for `dagster dev` and the runs it launches."""
    return {
        **os.environ,
        "DAGSTER_HOME": os.environ["DAGSTER_HOME"],
        "SPOTIFY_ASSETS_MODE": "emulator",
        "SPOTIFY_ASSETS_DATA_DIR": str(settings.data_dir),
        "SPOTIFY_ASSETS_EMULATOR_PORT": str(emu.port),
        "SPOTIFY_API_URL": emu.base_url,
        "SPOTIFY_ACCOUNTS_URL": emu.base_url,
        "MUSICBRAINZ_URL": emu.base_url,
        "SPOTIFY_CLIENT_ID": settings.spotify_client_id,
        "MUSICBRAINZ_MIN_INTERVAL": "0",
    }


def _graphql(base: str, query: str, variables: dict) -> dict:
    response = httpx.post(f"{base}/graphql", json={"query": query, "variables": variables},
                          timeout=60)  # fmt: skip
    response.raise_for_status()
    body = response.json()
    assert "errors" not in body, body["errors"]
    return body["data"]


def _wait_until_served(base: str, ui: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert ui.poll() is None, f"dagster dev exited with {ui.returncode}"
        try:
            located = _graphql(base, "{ workspaceOrError { ... on Workspace { locationEntries "
                               "{ name loadStatus } } } }", {})  # fmt: skip
            entries = located["workspaceOrError"]["locationEntries"]
            if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                return
        except (httpx.HTTPError, AssertionError, KeyError):
            pass
        time.sleep(1.0)
    raise AssertionError("the Dagster UI did not load the code location in time")


def _launch_refresh(base: str, month: str) -> str:
    """`listening_refresh_job` over the world's months (one run, as a single-run backfill)."""
    params = {
        "selector": {"repositoryLocationName": LOCATION, "repositoryName": "__repository__",
                     "jobName": "listening_refresh_job"},
        "executionMetadata": {"tags": [{"key": RANGE_START_TAG, "value": month},
                                       {"key": RANGE_END_TAG, "value": month}]},
        "runConfigData": {},
    }  # fmt: skip
    launched = _graphql(base, LAUNCH, {"params": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return launched["run"]["runId"]


def _wait_for_run(base: str, run_id: str, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = _graphql(base, RUN_STATUS, {"runId": run_id})["runOrError"]
        if run["status"] in ("SUCCESS", "FAILURE", "CANCELED"):
            return run
        time.sleep(1.0)
    raise AssertionError(f"run {run_id} did not finish in {timeout} s")


def _skip_the_newsletter(page: Page, timeout: float = 15.0) -> None:
    """Dagster asks a new browser to join its newsletter a few seconds after the first page;
    skip it (once skipped it stays away) so it covers no screenshot."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "Join the Dagster community" in page.text() and page.click_text("Skip"):
            time.sleep(1.0)  # the dialog fades out
            return
        time.sleep(0.5)


def _charts(page: Page, title: str, timeout: float = 30.0) -> list[dict]:
    """The rendered images whose alt text (the chart's title) starts with `title`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        charts = [i for i in page.images() if i["alt"].startswith(title) and i["width"]]
        if charts:
            return charts
        time.sleep(0.5)
    return []


def _user_ids(settings: Settings) -> list[str]:
    from spotify_assets.lib.users.registry import UserRegistry

    return [u.id for u in UserRegistry(settings).list()]


def _shots_dir(tmp_path: Path) -> Path:
    target = os.environ.get("SPOTIFY_ASSETS_UI_SHOTS")
    return ROOT / target if target else tmp_path


def test_the_dagster_ui_shows_the_graph_an_asset_and_a_run(
    emu: EmulatorHandle, demo: DemoDeployment, tmp_path: Path
) -> None:
    # The demo's pipeline ran into this deployment (spotify_assets_tests/demo_deployment.py),
    # shared with the rebuild and token tests, which ran before this one.
    settings = demo.settings
    # The demo's runs (as the pipeline left them) are the named jobs of the deployment, not an
    # anonymous asset job.
    assert "__ephemeral_asset_job__" not in demo.demo_jobs
    assert {"import_job", "poll_job", "listening_refresh_job", "musicbrainz_job"} <= demo.demo_jobs

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    ui = start_dagster_dev(_env(settings, emu), port)
    shots = _shots_dir(tmp_path)
    try:
        _wait_until_served(base, ui)
        month = emu.state.world.end.strftime("%Y-%m-01")
        run_id = _launch_refresh(base, month)
        run = _wait_for_run(base, run_id)
        assert run == {"__typename": "Run", "status": "SUCCESS",
                       "jobName": "listening_refresh_job"}  # fmt: skip

        with chromium() as page:
            # The graph draws only the nodes in view: a viewport the whole group fits in.
            page.goto(f"{base}/locations/{LOCATION}/asset-groups/listening/lineage",
                      width=2000, height=1400)  # fmt: skip
            # The sources and plays, each materialized.
            page.wait_for("exported_plays", "polled_plays", "import_reports", "plays",
                          "Materialized")  # fmt: skip
            _skip_the_newsletter(page)
            time.sleep(2.0)  # the graph's layout settles after the data arrives
            page.screenshot(shots / "ui-asset-graph.png")

            # daily_listening's page: its columns with their docs, a row count.
            page.goto(f"{base}/assets/daily_listening", height=1400)
            text = page.wait_for("daily_listening", "Columns", "Row count", "listening_refresh_job",
                                 "One row per user per local day")  # its description
            for column, doc in (
                ("date", "local calendar day"),
                ("plays", "plays (>= 30 s) started that day"),
                ("minutes", "sum of listened_ms / 60000"),
            ):
                assert column in text and doc in text, column
            time.sleep(1.0)
            page.screenshot(shots / "ui-daily_listening.png")

            # Its latest materialization: a preview (counts, never a listener) and a chart.
            page.goto(f"{base}/assets/daily_listening?view=events", height=1400)
            text = page.wait_for("preview", "listeners are counted, never named",
                                 "dagster/row_count", "minutes_per_day")  # fmt: skip
            assert not any(user in text for user in _user_ids(settings))
            assert page.click_text("[Show Markdown]")  # the chart opens in a dialog
            charts = _charts(page, "Minutes per day")
            time.sleep(1.5)  # the dialog fades in
            assert charts and charts[0]["width"] > 300 and charts[0]["height"] > 100, charts
            page.screenshot(shots / "ui-daily_listening-chart.png")

            page.goto(f"{base}/runs/{run_id}")
            text = page.wait_for(run_id[:8], "listening_refresh_job", "Success", "daily_listening")
            time.sleep(1.0)
            page.screenshot(shots / "ui-run.png")
    finally:
        stop(ui)
    for name in ("ui-asset-graph.png", "ui-daily_listening.png", "ui-daily_listening-chart.png",
                 "ui-run.png"):
        shot = shots / name
        assert shot.stat().st_size > 20_000, name  # a rendered page, not a blank one
