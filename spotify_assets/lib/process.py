"""A run's step process stops when its run worker is gone.

Dagster's multiprocess executor starts each step as a child of the run worker. If the worker is
killed (-9, an OOM kill, a reboot of the container), the default launcher cannot tell, and the
step would write on after its run is gone. A step that writes the lake therefore watches its
parent (a multiprocessing child is told through a pipe when its parent dies, even by SIGKILL)
and exits at once; and a lake commit from such a process is refused. Nothing it staged becomes
visible: uncommitted files are orphans that housekeeping removes.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from types import FrameType

ORPHAN_EXIT_CODE = 70
_lock = threading.Lock()
_watching = False


class OrphanedError(RuntimeError):
    """This process's parent (the run worker) is gone: it must not commit anything."""


def _watch(parent: multiprocessing.process.BaseProcess) -> None:
    parent.join()  # returns when the parent's sentinel closes: the parent has exited
    os._exit(ORPHAN_EXIT_CODE)


def exit_with_parent() -> None:
    """In a multiprocessing child (a Dagster step process), exit as soon as the parent dies.
    A no-op anywhere else (the CLI, a run worker, tests), and after the first call."""
    global _watching
    parent = multiprocessing.parent_process()
    if parent is None:
        return
    with _lock:
        if _watching:
            return
        _watching = True
    threading.Thread(target=_watch, args=(parent,), name="exit-with-parent", daemon=True).start()


def check_parent_alive() -> None:
    """Raise OrphanedError in a multiprocessing child whose parent has died."""
    parent = multiprocessing.parent_process()
    if parent is not None and not parent.is_alive():
        raise OrphanedError("the run worker of this step is gone; nothing is committed")


def heed_sigterm() -> None:
    """Let SIGTERM stop this process as a Ctrl-C would (KeyboardInterrupt: a run in progress is
    marked failed, temp files go), also when a script started it in the background.

    Such a process inherits SIGINT ignored (so a Ctrl-C meant for the script spares it), and
    Dagster gives SIGTERM whatever handler SIGINT has (`setup_interrupt_handlers`, at every run
    it executes): SIGTERM became ignored too, and `kill` could not stop a background
    `spotify-assets import`. SIGINT stays ignored there. Before Dagster's first run, SIGTERM
    killed the process outright, leaving its temp files behind.
    Called from elsewhere than the main thread (which alone may set handlers), it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, _interrupt_unless_sigint)
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _interrupt_unless_sigint)


def stopped_by_signal() -> str | None:
    """The signal `heed_sigterm`'s handler stopped this process with (e.g. "SIGTERM"), if any:
    a library can turn the KeyboardInterrupt into an error of its own (pydantic did, while
    Dagster loaded the definitions), and the command must still say it was stopped."""
    return _STOPPED_BY[0] if _STOPPED_BY else None


_STOPPED_BY: list[str] = []


def _interrupt_unless_sigint(signum: int, frame: FrameType | None) -> None:
    if signum != signal.SIGINT:
        name = signal.Signals(signum).name
        _STOPPED_BY.append(name)
        raise KeyboardInterrupt(f"stopped by signal {name}")
