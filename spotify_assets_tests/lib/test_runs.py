"""Runs whose worker died are failed and free their pool slots; live ones are left alone."""

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.events import EngineEventData
from dagster._core.storage.dagster_run import DagsterRun

from spotify_assets.lib.runs import (
    WORKER_TAG,
    assign_stranded_steps,
    fail_dead_runs,
    process_start_time,
    stranded_step_watch,
    was_interrupted,
    worker_tags,
)


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _started_run(
    instance: dg.DagsterInstance, tags: dict[str, str], started: datetime | None = None
) -> DagsterRun:
    run = DagsterRun(
        job_name="listening_refresh_job", status=dg.DagsterRunStatus.NOT_STARTED, tags=tags
    )
    instance.add_run(run)
    instance.handle_run_event(
        run.run_id,
        dg.DagsterEvent(
            event_type_value=dg.DagsterEventType.RUN_START.value, job_name=run.job_name
        ),
        update_timestamp=started,
    )
    return instance.get_run_by_id(run.run_id)


@pytest.fixture
def instance(tmp_path: Path):
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        instance.event_log_storage.set_concurrency_slots("days_plays", 1)
        yield instance


def test_a_run_whose_in_process_worker_died_is_failed_and_frees_its_slot(instance) -> None:
    host = worker_tags()[WORKER_TAG].rpartition(":")[0]
    dead = _started_run(instance, {WORKER_TAG: f"{host}:{_dead_pid()}"})
    alive = _started_run(instance, worker_tags())  # this very process: alive
    storage = instance.event_log_storage
    assert storage.claim_concurrency_slot("days_plays", dead.run_id, "plays").is_claimed
    assert not storage.claim_concurrency_slot("days_plays", "next-run", "plays").is_claimed

    assert fail_dead_runs(instance) == [dead.run_id]

    assert instance.get_run_by_id(dead.run_id).status == dg.DagsterRunStatus.FAILURE
    assert instance.get_run_by_id(alive.run_id).status == dg.DagsterRunStatus.STARTED
    assert storage.get_concurrency_info("days_plays").active_run_ids == set()
    assert storage.claim_concurrency_slot("days_plays", "next-run", "plays").is_claimed


def test_a_launched_worker_is_found_by_its_started_process_event(instance) -> None:
    run = _started_run(instance, {})
    pid = _dead_pid()
    instance.report_engine_event(
        f"Started process for run (pid: {pid}).", run, EngineEventData.in_process(pid)
    )
    assert fail_dead_runs(instance) == [run.run_id]


def test_a_reused_pid_is_not_the_runs_worker(instance) -> None:
    # A run that started a minute ago, and a process that started now with the pid its
    # launcher reported: a different process, so the run's worker is gone.
    run = _started_run(instance, {}, started=datetime.now(UTC) - timedelta(minutes=1))
    later = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        started = instance.get_run_record_by_id(run.run_id).start_time
        assert process_start_time(later.pid) > started + 30
        message = f"Started process for run (pid: {later.pid})."
        instance.report_engine_event(message, run, EngineEventData.in_process(later.pid))
        assert fail_dead_runs(instance) == [run.run_id]
    finally:
        later.kill()
        later.wait()


def test_young_runs_and_runs_elsewhere_are_left_alone(instance) -> None:
    host = worker_tags()[WORKER_TAG].rpartition(":")[0]
    young = _started_run(instance, {WORKER_TAG: f"{host}:{_dead_pid()}"})
    elsewhere = _started_run(instance, {WORKER_TAG: f"another-host:{os.getpid()}"})
    assert fail_dead_runs(instance, min_age_s=3600) == []
    assert fail_dead_runs(instance) == [young.run_id]
    assert instance.get_run_by_id(elsewhere.run_id).status == dg.DagsterRunStatus.STARTED


def test_an_in_process_run_killed_before_it_started_is_failed_too(instance) -> None:
    host = worker_tags()[WORKER_TAG].rpartition(":")[0]
    never = DagsterRun(
        job_name="listening_refresh_job",
        status=dg.DagsterRunStatus.NOT_STARTED,
        tags={WORKER_TAG: f"{host}:{_dead_pid()}"},
    )
    queued = DagsterRun(job_name="listening_refresh_job", status=dg.DagsterRunStatus.NOT_STARTED)
    instance.add_run(never)
    instance.add_run(queued)  # waiting for a launcher: nobody to judge yet
    assert fail_dead_runs(instance) == [never.run_id]
    assert instance.get_run_by_id(queued.run_id).status == dg.DagsterRunStatus.NOT_STARTED


def test_slots_a_finished_run_still_holds_are_freed(instance) -> None:
    # What a worker killed mid-step leaves when Dagster marks its run failed from outside.
    run = _started_run(instance, worker_tags())
    storage = instance.event_log_storage
    assert storage.claim_concurrency_slot("days_plays", run.run_id, "plays").is_claimed
    instance.report_run_failed(run, "terminated by signal 9")
    assert not storage.claim_concurrency_slot("days_plays", "retry", "plays").is_claimed
    assert fail_dead_runs(instance) == []  # not a started run: nothing to fail ...
    assert storage.get_concurrency_info("days_plays").active_run_ids == set()  # ... but freed
    assert storage.claim_concurrency_slot("days_plays", "retry", "plays").is_claimed


def _strand(storage, pool: str) -> None:
    """The race as it happens: run B sees no free slot, run A frees it (the queue is empty, so
    nobody is assigned), then B joins the queue unassigned, beside the free slot."""
    assert storage.claim_concurrency_slot(pool, "run-a", "plays").is_claimed
    assert not storage.has_unassigned_slots(pool)  # what B checks first
    storage.free_concurrency_slot_for_step("run-a", "plays")
    storage.add_pending_step(concurrency_key=pool, run_id="run-b", step_key="plays",
                             should_assign=False)  # fmt: skip


def test_a_step_stranded_beside_a_free_slot_is_given_it(instance) -> None:
    storage = instance.event_log_storage
    _strand(storage, "days_plays")
    # Without the repair B never gets the slot, however often it asks.
    for _ in range(3):
        assert not storage.claim_concurrency_slot("days_plays", "run-b", "plays").is_claimed
    assert assign_stranded_steps(instance) == ["days_plays"]
    assert storage.claim_concurrency_slot("days_plays", "run-b", "plays").is_claimed
    assert assign_stranded_steps(instance) == []  # nothing left to repair


def test_a_waiting_step_is_not_given_a_slot_another_run_holds(instance) -> None:
    storage = instance.event_log_storage
    assert storage.claim_concurrency_slot("days_plays", "run-a", "plays").is_claimed
    assert not storage.claim_concurrency_slot("days_plays", "run-b", "plays").is_claimed
    assert assign_stranded_steps(instance) == []
    assert not storage.claim_concurrency_slot("days_plays", "run-b", "plays").is_claimed


def test_a_run_in_this_process_repairs_its_stranded_step_while_it_waits(instance) -> None:
    storage = instance.event_log_storage
    _strand(storage, "days_plays")
    with stranded_step_watch(instance, every_s=0.05):
        deadline = time.monotonic() + 10
        while not storage.claim_concurrency_slot("days_plays", "run-b", "plays").is_claimed:
            assert time.monotonic() < deadline, "the step stayed stranded"
            time.sleep(0.05)


def test_a_run_stopped_by_a_signal_is_told_from_a_failed_one() -> None:
    @dg.asset
    def stopped() -> None:
        os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C, or a SIGTERM Dagster maps, does
        time.sleep(5)

    @dg.asset
    def broken() -> None:
        raise ValueError("a bug, not a signal")

    @dg.asset
    def fine() -> int:
        return 1

    instance = dg.DagsterInstance.ephemeral()
    runs = {a.key.path[0]: dg.materialize([a], instance=instance, raise_on_error=False)
            for a in (stopped, broken, fine)}  # fmt: skip
    assert not runs["stopped"].success and not runs["broken"].success
    assert was_interrupted(runs["stopped"])
    assert not was_interrupted(runs["broken"]) and not was_interrupted(runs["fine"])
