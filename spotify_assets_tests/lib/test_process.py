"""A step process whose run worker is killed with -9 exits, instead of writing on; a command
started in the background by a script still stops on SIGTERM after Dagster ran something."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

PARENT = textwrap.dedent(
    """
    import multiprocessing, sys, time
    sys.path.insert(0, {root!r})

    def step(pid_file):
        from spotify_assets.lib.process import exit_with_parent
        exit_with_parent()
        open(pid_file, "w").write(str(__import__("os").getpid()))
        time.sleep(120)  # a long step: only its parent's death ends it early

    if __name__ == "__main__":
        ctx = multiprocessing.get_context("spawn")  # what Dagster's multiprocess executor uses
        child = ctx.Process(target=step, args=({pid_file!r},))
        child.start()
        time.sleep(120)
    """
)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie of an exited child counts as gone.
    state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].split()[0]
    return state != "Z"


def test_a_step_exits_when_its_run_worker_is_killed(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    script = tmp_path / "worker.py"
    root = str(Path(__file__).resolve().parents[2])
    script.write_text(PARENT.format(root=root, pid_file=str(pid_file)))
    parent = subprocess.Popen([sys.executable, str(script)])
    deadline = time.monotonic() + 60
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline and parent.poll() is None
        time.sleep(0.05)
    child = int(pid_file.read_text())
    assert _alive(child)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while _alive(child):
        assert time.monotonic() < deadline, "the orphaned step kept running"
        time.sleep(0.05)


def test_outside_a_multiprocessing_child_nothing_is_watched() -> None:
    from spotify_assets.lib.process import check_parent_alive, exit_with_parent

    exit_with_parent()  # the CLI, a run worker, a test: no parent to follow
    check_parent_alive()


BACKGROUND = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {root!r})
    if {heed!r}:
        from spotify_assets.lib.process import heed_sigterm
        heed_sigterm()
    if {run!r}:
        import dagster as dg

        @dg.asset
        def one() -> int:
            return 1

        dg.materialize([one], instance=dg.DagsterInstance.ephemeral())
    try:
        print("ran", flush=True)  # inside: a signal right after it still finds the `finally`
        time.sleep(60)
    finally:
        print("cleaned up", flush=True)  # what a `with` block's exit does on the way out
    """
)


def _background(heed: bool, run: bool = True) -> subprocess.Popen:
    """A process started as `cmd &` in a script starts: SIGINT ignored."""
    root = str(Path(__file__).resolve().parents[2])
    process = subprocess.Popen(
        [sys.executable, "-c", BACKGROUND.format(root=root, heed=heed, run=run)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    assert process.stdout is not None and process.stdout.readline() == "ran\n"
    return process


def test_sigterm_stops_a_background_process_after_a_dagster_run() -> None:
    # Dagster gave SIGTERM the ignored SIGINT's handler: without the fix, kill does nothing.
    deaf = _background(heed=False)
    try:
        deaf.send_signal(signal.SIGTERM)
        time.sleep(1.0)
        assert deaf.poll() is None
    finally:
        deaf.kill()
        deaf.communicate()
    heard = _background(heed=True)
    heard.send_signal(signal.SIGINT)  # still ignored: a Ctrl-C meant for the script
    time.sleep(0.5)
    assert heard.poll() is None
    heard.send_signal(signal.SIGTERM)
    out, err = heard.communicate(timeout=30)
    # An uncaught KeyboardInterrupt ends Python as SIGINT would (the CLI catches it: exit 130).
    assert heard.returncode == -signal.SIGINT and out == "cleaned up\n"
    assert "KeyboardInterrupt: stopped by signal SIGTERM" in err


def test_sigterm_before_any_run_lets_the_work_clean_up() -> None:
    # Without the fix SIGTERM's default action kills at once: no `finally`, temp files stay.
    abrupt = _background(heed=False, run=False)
    abrupt.send_signal(signal.SIGTERM)
    out, _ = abrupt.communicate(timeout=30)
    assert abrupt.returncode == -signal.SIGTERM and out == ""
    heard = _background(heed=True, run=False)
    heard.send_signal(signal.SIGTERM)
    out, err = heard.communicate(timeout=30)
    # An uncaught KeyboardInterrupt ends Python as SIGINT would (the CLI catches it: exit 130).
    assert heard.returncode == -signal.SIGINT and out == "cleaned up\n"
    assert "KeyboardInterrupt: stopped by signal SIGTERM" in err


SWALLOWED = textwrap.dedent(
    """
    import os, signal, sys
    sys.path.insert(0, {root!r})
    from spotify_assets.lib.process import heed_sigterm, stopped_by_signal
    heed_sigterm()
    try:
        try:
            os.kill(os.getpid(), signal.SIGTERM)
        except KeyboardInterrupt:  # what pydantic did while Dagster loaded definitions
            raise RuntimeError("a library's own error") from None
    except RuntimeError:
        print(stopped_by_signal())
    """
)


def test_a_stop_is_known_even_when_a_library_turned_it_into_its_own_error() -> None:
    root = str(Path(__file__).resolve().parents[2])
    done = subprocess.run(
        [sys.executable, "-c", SWALLOWED.format(root=root)], capture_output=True, text=True
    )
    assert (done.returncode, done.stdout) == (0, "SIGTERM\n"), done.stderr
