"""The demo: the whole pipeline on the embedded emulator, then the Dagster UI.

Steps: start the emulator (a child process), enroll its demo users through the real browser-login
flow (unattended), drop each user's privacy export into the inbox, materialize every asset of the
graph for the history window, print a summary of the warehouse, and serve the UI until Ctrl-C.
Every child runs in its own process group and is stopped on exit: `dagster dev` started from a
script ignores SIGINT/SIGTERM, so its whole group is killed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import dagster as dg
import httpx

from spotify_assets.defs.pools import POOL_LIMITS
from spotify_assets.lib.instance import ensure_pool_limits, prepare_dagster_home
from spotify_assets.lib.runs import fail_dead_runs
from spotify_assets.lib.settings import Settings, get_settings

# MusicBrainz allows 1 request a second. The emulator enforces that too, unless told otherwise:
# the demo lowers it on both sides (a setting refused for any non-loopback MusicBrainz) so one
# run enriches the whole demo world, and every entity in one run keeps the demo idempotent.
DEMO_MB_MIN_INTERVAL_S = 0.0
DEMO_OP_CONFIG = {"musicbrainz_enrichment": {"max_entities": 100_000}}


def _log(message: str) -> None:
    print(f"[demo] {message}", flush=True)


def _spawn(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    # SIG_DFL for SIGINT: a child of a non-interactive shell inherits SIGINT ignored, and
    # dagster maps SIGTERM to SIGINT, so without this neither signal would stop it.
    def restore_sigint() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    return subprocess.Popen(args, env=env, start_new_session=True, preexec_fn=restore_sigint)


def _stop(process: subprocess.Popen[bytes], name: str, timeout: float = 10.0) -> None:
    if process.poll() is not None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=timeout)
            return
        except subprocess.TimeoutExpired:
            _log(f"{name} did not stop on {sig.name}; escalating")


@contextlib.contextmanager
def running_emulator_process(settings: Settings) -> Iterator[str]:
    """Start `spotify-assets emulator` on the configured port and wait until it answers."""
    base = settings.spotify_api_url
    with contextlib.suppress(httpx.HTTPError):
        httpx.get(f"{base}/_emulator/users", timeout=1.0)
        raise SystemExit(
            f"port {settings.emulator_port} already serves something; stop it or set "
            "SPOTIFY_ASSETS_EMULATOR_PORT to a free port"
        )
    command = [
        sys.executable, "-m", "spotify_assets.cli", "emulator",
        "--port", str(settings.emulator_port),
        "--days", str(settings.demo_days),
        "--mb-min-interval", str(settings.musicbrainz_min_interval_s),
    ]  # fmt: skip
    if settings.demo_end:
        command += ["--end", settings.demo_end.isoformat()]
    process = _spawn(command)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise SystemExit(f"the emulator exited with code {process.returncode}")
            try:
                httpx.get(f"{base}/_emulator/users", timeout=1.0).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise SystemExit("the emulator did not answer within 60 s") from None
                time.sleep(0.2)
        _log(f"emulator on {base} (pid {process.pid})")
        yield base
    finally:
        _stop(process, "emulator")


def enroll_demo_users(settings: Settings, base_url: str) -> list[str]:
    """Log every demo user in through the real authorization-code flow (unattended).

    Every time, enrolled or not: each emulator process is a new accounts service, and the
    refresh tokens an earlier demo stored mean nothing to it (a second demo on the same `data/`
    had every listener needing to log in again). A login renews the token and keeps settings.
    """
    from spotify_assets.lib.users.login import login
    from spotify_assets.lib.users.registry import UserRegistry

    registry = UserRegistry(settings)
    enrolled = []
    for demo_user in httpx.get(f"{base_url}/_emulator/users").json():
        user_id = demo_user["id"]
        login(settings, registry, emulator_user=user_id, open_browser=False, timeout_s=30)
        # Spotify's API has no timezone; an operator would run `users set-timezone`.
        registry.set_timezone(user_id, demo_user["timezone"])
        enrolled.append(user_id)
    _log(f"enrolled users: {', '.join(enrolled)}")
    return enrolled


def drop_exports_into_inbox(settings: Settings, base_url: str, user_ids: list[str]) -> int:
    """Download each demo user's export zip (as Spotify mails it) into their inbox folder."""
    dropped = 0
    for user_id in user_ids:
        response = httpx.get(f"{base_url}/_emulator/exports/{user_id}.zip", timeout=60)
        response.raise_for_status()
        target = settings.inbox_dir / user_id / "my_spotify_data.zip"
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists() or target.read_bytes() != response.content:
            target.write_bytes(response.content)
            dropped += 1
    return dropped


def replay_recent_polls(
    settings: Settings, base_url: str, instance: dg.DagsterInstance | None = None
) -> int:
    """Poll as the 30-minute schedule would have since the exports end, on the emulator's clock.

    Exports stop a few hours before "now"; a heavy listener plays more than the 50 plays
    recently-played keeps in that time, so one poll now would (visibly) lose some. The demo
    steps the emulator's clock instead and runs `poll_job` at each step, then gives the clock back.
    """
    from spotify_assets.materialize import materialize_selection

    config = httpx.get(f"{base_url}/_emulator/config").json()
    end = datetime.fromisoformat(config["end"])
    step = timedelta(minutes=settings.poll_interval_minutes)
    moment = end - timedelta(hours=config["export_end_offset_hours"]) - step
    runs = 0
    try:
        while moment <= end:
            httpx.post(f"{base_url}/_emulator/clock", json={"now": moment.isoformat()})
            materialize_selection(settings, ["polled_plays"], instance=instance)
            moment += step
            runs += 1
    finally:
        httpx.post(f"{base_url}/_emulator/clock", json={"now": None})
    return runs


def history_window(base_url: str) -> tuple[str, str]:
    """First and last UTC day of the emulator world's history, as daily partition keys."""
    config = httpx.get(f"{base_url}/_emulator/config").json()
    start = datetime.fromisoformat(config["start"]).astimezone(UTC).date()
    end = datetime.fromisoformat(config["end"]).astimezone(UTC).date()
    return start.isoformat(), end.isoformat()


def run_pipeline(
    settings: Settings, base_url: str, instance: dg.DagsterInstance | None = None
) -> None:
    """Everything the demo does between starting the emulator and printing the summary."""
    from spotify_assets.materialize import materialize_everything

    users = enroll_demo_users(settings, base_url)
    dropped = drop_exports_into_inbox(settings, base_url, users)
    _log(f"exports in inbox: {dropped} new")
    polls = replay_recent_polls(settings, base_url, instance)
    _log(f"polled every {settings.poll_interval_minutes} min since the exports end: {polls} polls")
    start, end = history_window(base_url)
    _log(f"materializing every asset for {start} .. {end}")
    materialize_everything(settings, start, end, instance=instance, op_config=DEMO_OP_CONFIG)


def run_demo(settings: Settings, *, exit_after_summary: bool = False, ui_port: int = 3000) -> int:
    if settings.mode != "emulator":
        raise SystemExit("the demo runs on the emulator; unset SPOTIFY_ASSETS_MODE=live")
    # Children (the UI's code server and runs) read the same value from the environment.
    os.environ.setdefault("MUSICBRAINZ_MIN_INTERVAL", str(DEMO_MB_MIN_INTERVAL_S))
    if settings.demo_end is not None:
        # A world pinned in the past: the pipeline's "now" is the world's, so today's top lists
        # (the world's last day) can still be taken.
        os.environ.setdefault("SPOTIFY_ASSETS_NOW", settings.demo_end.isoformat())
    get_settings.cache_clear()
    settings = get_settings()
    from spotify_assets.materialize import print_summary

    prepare_dagster_home(settings)
    instance = dg.DagsterInstance.get()
    ensure_pool_limits(instance, POOL_LIMITS)
    # Runs a previous demo was executing when it stopped have no worker now: failed (so the
    # refresh job's run retries fire once the UI's daemon is up) and their pool slots freed.
    for run_id in fail_dead_runs(instance):
        _log(f"run {run_id} was cut off when the last demo stopped: marked failed")
    with running_emulator_process(settings) as base_url:
        run_pipeline(settings, base_url)
        print_summary(settings)
        if exit_after_summary:
            return 0
        return _serve_ui(ui_port)


def _serve_ui(port: int) -> int:
    _log(f"Dagster UI on http://127.0.0.1:{port}  (Ctrl-C stops everything)")
    ui = _spawn(
        [
            sys.executable,
            "-m",
            "dagster",
            "dev",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-w",
            "workspace.yaml",
        ]
    )
    stop = {"requested": False}

    def on_signal(signum: int, _frame: object) -> None:
        stop["requested"] = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        while not stop["requested"] and ui.poll() is None:
            time.sleep(0.5)
    finally:
        _log("stopping the UI and the emulator")
        _stop(ui, "dagster dev")
    return 0
