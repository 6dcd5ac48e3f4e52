"""Progress of long work for the people waiting on it: a line every few seconds in a run's log,
a bar in a terminal.

The worker only updates a `Progress` (cheap, from any thread); a reporter thread turns it into a
line every `every_s` seconds, so a step that blocks for a while (a DuckDB query, a Parquet write,
waiting for the raw copies) still shows that it is alive and where it is, and a quick job prints
nothing but its summary. Lines carry counts only: no user id, file content or track name.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

# Two lines per 5 s: a reader of the run log never waits more than ~2 s for a sign of life.
EVERY_S = 2.0


@dataclass(frozen=True)
class Snapshot:
    """Where a piece of work stands at one moment."""

    what: str  # e.g. "import of l-3fa9c2d1/my_spotify_data.zip", "plays"
    stage: str = ""  # e.g. "parsing", "writing the lake"
    done: float = 0.0  # units done, of `total`
    total: float | None = None
    unit: str = ""  # "bytes" (shown as MB), "days", ...
    rows: int = 0
    files_done: int = 0
    files_total: int = 0
    started: float = 0.0  # time.monotonic() at start
    show_rate: bool = True  # units per second (rows per second when there are rows)

    @property
    def elapsed_s(self) -> float:
        return max(time.monotonic() - self.started, 1e-9)

    @property
    def percent(self) -> float | None:
        if not self.total:
            return None
        return min(100.0, 100.0 * self.done / self.total)

    def line(self) -> str:
        parts = []
        if self.files_total:
            parts.append(f"file {min(self.files_done + 1, self.files_total)}/{self.files_total}")
        if self.rows:
            parts.append(f"{self.rows:,} rows")
        if self.percent is not None:
            of = (
                f"{self.total / 1024**2:,.0f} MB"
                if self.unit == "bytes"
                else f"{self.total:,.0f} {self.unit}"
            )
            parts.append(f"{self.percent:.0f}% of {of}")
        elapsed = self.elapsed_s
        if self.rows and self.show_rate:
            parts.append(f"{self.rows / elapsed:,.0f} rows/s")
        elif self.show_rate and self.unit and self.unit != "bytes" and self.done:
            parts.append(f"{self.done / elapsed:,.1f} {self.unit}/s")
        parts.append(f"{elapsed:.0f} s")
        stage = f" ({self.stage})" if self.stage else ""
        return f"{self.what}: {', '.join(parts)}{stage}"


class Progress:
    """A piece of work's progress, updated by the worker, read by reporters (thread-safe)."""

    def __init__(
        self, what: str, *, unit: str = "", total: float | None = None, show_rate: bool = True
    ) -> None:
        self._lock = threading.Lock()
        self._state = Snapshot(
            what, unit=unit, total=total, started=time.monotonic(), show_rate=show_rate
        )
        self._listeners: list[Callable[[Snapshot], None]] = []

    def snapshot(self) -> Snapshot:
        with self._lock:
            return self._state

    def update(self, **fields: object) -> None:
        """Set any of Snapshot's fields (stage, done, total, rows, files_done, files_total)."""
        with self._lock:
            self._state = replace(self._state, **fields)  # type: ignore[arg-type]
            state, listeners = self._state, list(self._listeners)
        for listener in listeners:
            listener(state)

    def listen(self, listener: Callable[[Snapshot], None]) -> None:
        """Call `listener` with every update (a terminal bar follows the work this way)."""
        with self._lock:
            self._listeners.append(listener)


@contextlib.contextmanager
def report_every(
    progress: Progress,
    sink: Callable[[str], None],
    every_s: float = EVERY_S,
    *,
    at_start: bool = False,
) -> Iterator[Progress]:
    """Send `progress`'s line to `sink` every `every_s` seconds while the block runs (and once
    as it starts, with `at_start`)."""
    stop = threading.Event()

    def report() -> None:
        if at_start:
            sink(progress.snapshot().line())
        while not stop.wait(every_s):
            try:
                sink(progress.snapshot().line())
            except Exception:  # a log that cannot be written must not stop the work
                return

    thread = threading.Thread(target=report, name="progress", daemon=True)
    thread.start()
    try:
        yield progress
    finally:
        stop.set()
        thread.join()


@contextlib.contextmanager
def follow_run_log(
    instance: object,
    run_id: str,
    sink: Callable[[str], None],
    what: str = "run",
    every_s: float = EVERY_S,
) -> Iterator[None]:
    """Send what a run's steps log (`context.log`, INFO and up: their progress lines) to `sink`
    as the run records it, for a command that executes a run in process with a quiet console;
    when nothing was said for `every_s`, which step is running and for how long."""
    stop = threading.Event()
    begun = time.monotonic()
    state: dict[str, object] = {"cursor": None, "said": begun, "step": None}

    def drain() -> None:
        page = instance.get_records_for_run(run_id, cursor=state["cursor"])  # type: ignore[attr-defined]
        for record in page.records:
            entry = record.event_log_entry
            event = entry.dagster_event
            if event is None:
                if entry.level >= logging.INFO and entry.user_message:
                    sink(entry.user_message)
                    state["said"] = time.monotonic()
            elif event.event_type_value == "STEP_START":
                state["step"] = entry.step_key
            elif event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE", "STEP_SKIPPED"):
                state["step"] = None
        state["cursor"] = page.cursor or state["cursor"]

    def follow() -> None:
        while not stop.wait(0.5):
            with contextlib.suppress(Exception):  # the run's storage may be busy: next time
                drain()
            now = time.monotonic()
            if now - float(state["said"]) >= every_s:  # type: ignore[arg-type]
                doing = f"step {state['step']}" if state["step"] else "between steps"
                sink(f"{what}: {doing}, {now - begun:.0f} s")
                state["said"] = now

    thread = threading.Thread(target=follow, name="run-log", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        with contextlib.suppress(Exception):
            drain()


def to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@contextlib.contextmanager
def terminal_progress(progress: Progress, every_s: float = EVERY_S) -> Iterator[Progress]:
    """A bar on a terminal (rich), or, when stderr is not one (a script, a log file), the same
    lines as the run log every few seconds."""
    if not sys.stderr.isatty():
        with report_every(progress, to_stderr, every_s, at_start=True):
            yield progress
        return
    from rich.progress import (
        BarColumn,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.progress import Progress as Bar

    start = progress.snapshot()
    with Bar(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        transient=False,
    ) as bar:
        task = bar.add_task(start.what, total=start.total, detail="")

        def show(state: Snapshot) -> None:
            detail = ", ".join(
                x
                for x in (
                    f"{state.rows:,} rows, {state.rows / state.elapsed_s:,.0f}/s"
                    if state.rows
                    else "",
                    state.stage,
                )
                if x
            )
            bar.update(task, completed=state.done, total=state.total, detail=detail)

        progress.listen(show)
        yield progress
        final = progress.snapshot()
        bar.update(task, completed=final.total or final.done, total=final.total or final.done)
