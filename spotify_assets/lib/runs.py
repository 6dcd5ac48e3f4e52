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

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

log = logging.getLogger(__name__)

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
    assign_stranded_steps(instance)
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


def assign_stranded_steps(instance: dg.DagsterInstance) -> list[str]:
    """Give a free pool slot to the step that waits for it, where Dagster forgot to.

    A step that wants a slot checks whether one is free, then joins the pool's queue. When
    another run frees the slot in between, Dagster hands it to the queue before the step has
    joined, and the step then waits, unassigned, beside a free slot, for ever (seen 2026-12-04:
    two refreshes at once on a loaded machine, one stuck for 8 minutes with every slot free).
    Assigning the head of the queue when a pool has more slots than assigned steps is what
    Dagster's own freeing does; the slot rows still decide who gets one. Returns the pools."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    repaired = []
    for pool in sorted(storage.get_concurrency_keys()):
        info = storage.get_concurrency_info(pool)
        waiting = [s for s in info.pending_steps if s.assigned_timestamp is None]
        if waiting and storage.has_unassigned_slots(pool):
            storage.assign_pending_steps([pool])
            repaired.append(pool)
    return repaired


@contextlib.contextmanager
def stranded_step_watch(instance: dg.DagsterInstance, every_s: float = 5.0) -> Iterator[None]:
    """While a run executes in this process (the CLI, the demo), repair stranded steps every
    `every_s` (`assign_stranded_steps`): no daemon may be running to do it."""
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(every_s):
            try:
                for pool in assign_stranded_steps(instance):
                    log.warning("pool %s: a step waited beside a free slot; assigned it", pool)
            except Exception:  # a repair must never fail the run it watches
                log.debug("stranded-step check failed", exc_info=True)

    thread = threading.Thread(target=watch, name="stranded-step-watch", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=every_s + 1)


def was_interrupted(result: dg.ExecuteInProcessResult) -> bool:
    """Whether an in-process run failed because its process was told to stop (Ctrl-C, or a
    SIGTERM Dagster maps to it), not because a step failed: Dagster turns the signal into a
    failed run and returns, and a command running several runs must stop, not start the next."""
    if result.success:
        return False
    reason = result.get_run_failure_event().job_failure_data.failure_reason
    return reason is not None and reason.name == "UNEXPECTED_TERMINATION"
