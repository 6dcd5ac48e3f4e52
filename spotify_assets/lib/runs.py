"""Runs whose worker process is gone are failed, and their pool slots freed.

Dagster's run monitoring can only health-check run workers through launchers that support it
(Kubernetes, Docker, ECS); the default launcher, which `dagster dev` and a single-box deployment
use, cannot, so a run whose worker was killed (-9, OOM, a reboot) stays STARTED forever, keeps
its pool slots (every later refresh of its assets waits on them), and is never retried (Dagster
retries only runs that reach FAILURE). Run monitoring's `max_runtime` would fail it eventually,
but only after a fixed time that a legitimately long import must not hit.

What this module adds, for runs on this machine:
- where a run's worker is: the default launcher's "Started process for run (pid: N)" event, or
  for runs executed in process (the CLI, the demo) the `spotify_assets/worker` tag they carry;
- whether it still exists: the pid is alive *and* is the same process (its start time, from
  /proc, is not later than the run started: a reused pid is a different process);
- `fail_dead_runs`: a run whose worker is gone is reported failed (so run retries fire) and its
  pool slots are freed. A run whose worker is unknown or on another host is left alone.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

WORKER_TAG = "spotify_assets/worker"
WATCHED = [
    dg.DagsterRunStatus.NOT_STARTED,  # judged only when run in process: its worker is known
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]
FINISHED = [
    dg.DagsterRunStatus.SUCCESS,
    dg.DagsterRunStatus.FAILURE,
    dg.DagsterRunStatus.CANCELED,
]
# A start time may be read from /proc and from an event clock a little apart.
_CLOCK_SLACK_S = 5.0


@dataclass(frozen=True)
class Worker:
    host: str
    pid: int


def _boot_time() -> float:
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("btime "):
            return float(line.split()[1])
    raise RuntimeError("/proc/stat has no btime")


def process_start_time(pid: int) -> float | None:
    """When process `pid` started (Unix time), or None if there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = stat.rsplit(") ", 1)[1].split()
    if fields[0] == "Z":  # exited, not yet reaped: gone for our purposes
        return None
    ticks = int(fields[19])  # field 22 of stat(5), counted after the ") "
    return _boot_time() + ticks / os.sysconf("SC_CLK_TCK")


def worker_tags() -> dict[str, str]:
    """Tags for a run executed in this process (the CLI, the demo): who its worker is."""
    return {WORKER_TAG: f"{socket.gethostname()}:{os.getpid()}"}


def run_worker(instance: dg.DagsterInstance, run: dg.DagsterRun) -> Worker | None:
    tag = run.tags.get(WORKER_TAG)
    if tag:
        host, _, pid = tag.rpartition(":")
        return Worker(host, int(pid)) if pid.isdigit() else None
    for record in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        event = record.dagster_event
        data = event.event_specific_data if event else None
        pid = getattr(data, "metadata", {}).get("pid") if data else None
        message = event.message if event else ""
        if pid is not None and "Started process for run" in (message or ""):
            # The default launcher starts run workers on the machine of the code server,
            # which is this one for `dagster dev` and the single-box profiles.
            return Worker(socket.gethostname(), int(pid.value))
    return None


def worker_alive(worker: Worker, run_started: float) -> bool | None:
    """True/False for a worker on this host; None when it runs elsewhere (unknown)."""
    if worker.host != socket.gethostname():
        return None
    started = process_start_time(worker.pid)
    return started is not None and started <= run_started + _CLOCK_SLACK_S


def fail_dead_runs(instance: dg.DagsterInstance, *, min_age_s: float = 0.0) -> list[str]:
    """Fail every watched run at least `min_age_s` old whose worker no longer exists (younger
    ones may not have recorded their worker yet), and free its pool slots."""
    failed = []
    now = time.time()
    for record in instance.get_run_records(filters=dg.RunsFilter(statuses=WATCHED)):
        run = record.dagster_run
        started = record.start_time or record.create_timestamp.timestamp()
        if now - started < min_age_s:
            continue
        if run.status == dg.DagsterRunStatus.NOT_STARTED and WORKER_TAG not in run.tags:
            continue  # queued for a launcher: no worker yet, nothing to judge
        worker = run_worker(instance, run)
        if worker is None or worker_alive(worker, started) is not False:
            continue
        instance.report_run_failed(
            run,
            f"the run worker (pid {worker.pid} on {worker.host}) is gone: killed or crashed "
            "without reporting; its pool slots are freed and it is retried if its job retries",
        )
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        failed.append(run.run_id)
    free_slots_of_finished_runs(instance)
    return failed


def free_slots_of_finished_runs(instance: dg.DagsterInstance) -> list[str]:
    """Free the pool slots runs still hold after they ended (a worker killed mid-step never
    releases them; Dagster marks such a run failed from outside). Run monitoring's
    `free_slots_after_run_end_seconds` does this when a daemon runs; this is for when none does
    (the CLI), and for instances configured without it."""
    storage = instance.event_log_storage
    holders = storage.get_concurrency_run_ids()
    if not holders:
        return []
    records = instance.get_run_records(
        filters=dg.RunsFilter(run_ids=list(holders), statuses=FINISHED)
    )
    for record in records:
        storage.free_concurrency_slots_for_run(record.dagster_run.run_id)
    return [r.dagster_run.run_id for r in records]
