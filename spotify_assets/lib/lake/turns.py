"""Turns: writers of one thing take turns, across processes, for as long as a block runs.

Dagster's pools order the runs it sees, but on SQLite two processes can claim a pool's one
slot at the same moment; a turn is an exclusive `flock` on `<lake>/_turns/<name>.lock`, so it
holds whatever claimed what. The kernel releases it when its holder dies (kill -9 included):
nobody waits on a dead writer.
"""

from __future__ import annotations

import contextlib
import fcntl
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

WAIT_NOTICE_S = 10.0


@contextlib.contextmanager
def turn(root: Path, name: str, on_wait: Callable[[float], None] | None = None) -> Iterator[None]:
    """Hold `name`'s turn under `root` while the block runs; `on_wait(seconds)` is called every
    10 s while another process holds it."""
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,63}", name):
        raise ValueError(f"invalid turn name {name!r}")
    folder = Path(root) / "_turns"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{name}.lock", "a") as handle:
        started = time.monotonic()
        told = 0
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                waited = time.monotonic() - started
                if on_wait is not None and waited >= (told + 1) * WAIT_NOTICE_S:
                    told += 1
                    on_wait(waited)
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
