"""Turns (`lib/lake/turns.py`): real processes take turns, and a holder killed with -9 hands
the turn on at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from spotify_assets.lib.lake.turns import turn

HOLD = textwrap.dedent(
    """
    import sys, time
    from spotify_assets.lib.lake.turns import turn
    root, name, seconds, marks = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
    with turn(root, name):
        with open(marks, "a") as out:
            out.write(f"start {time.time()}\\n")
        time.sleep(seconds)
        with open(marks, "a") as out:
            out.write(f"end {time.time()}\\n")
    """
)


def _hold(root: Path, name: str, seconds: float, marks: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", HOLD, str(root), name, str(seconds),
                             str(marks)])


def _wait_for(path: Path, text: str) -> None:
    deadline = time.monotonic() + 30
    while not (path.exists() and text in path.read_text()):
        assert time.monotonic() < deadline, f"no {text!r} in {path}"
        time.sleep(0.02)


def test_two_processes_take_turns_and_other_names_do_not_wait(tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    first = _hold(tmp_path, "days_plays", 1.0, marks)
    _wait_for(marks, "start")
    second = _hold(tmp_path, "days_plays", 0.0, marks)
    with turn(tmp_path, "days_sessions"):  # another name: free while days_plays is held
        pass
    assert first.wait(30) == 0 and second.wait(30) == 0
    events = [line.split() for line in marks.read_text().splitlines()]
    assert [e[0] for e in events] == ["start", "end", "start", "end"]
    assert float(events[1][1]) <= float(events[2][1])  # the second began after the first ended


def test_a_holder_killed_with_minus_9_hands_the_turn_on(tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    holder = _hold(tmp_path, "days_plays", 600.0, marks)
    _wait_for(marks, "start")
    waits: list[float] = []
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(30)
    with turn(tmp_path, "days_plays", waits.append):
        pass
    assert waits == []  # no wait worth a notice: the kernel freed it with the process


def test_a_name_never_becomes_a_path(tmp_path: Path) -> None:
    with pytest.raises(ValueError), turn(tmp_path, "../x"):
        pass
