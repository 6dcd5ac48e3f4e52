"""One request per interval across every process of a deployment, via an fcntl-locked file.

The file holds the wall-clock time (seconds since the epoch, as text) of the latest request
start. `acquire()` takes an exclusive `flock`, reads it, sleeps until that time + interval,
writes the new start time and releases the lock, so two runs enriching at once queue behind each
other instead of both sending. `flock` locks belong to the open file description, so threads of
one process opening the file separately exclude each other too.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable
from pathlib import Path


class FileRateLimiter:
    """Blocks in `acquire()` until this process may start the next request."""

    def __init__(
        self,
        path: Path,
        min_interval_s: float = 1.0,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if min_interval_s < 0:
            raise ValueError(f"min_interval_s must be >= 0, got {min_interval_s}")
        self.path = path
        self.min_interval_s = min_interval_s
        self._sleep = sleep
        self._clock = clock

    def acquire(self) -> float:
        """Wait for our slot; return the start time recorded for this request."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            last = _read_time(fd)
            now = self._clock()
            # A wall clock stepped backwards leaves `last` in the future; never wait more than
            # one interval for it.
            slot = min(last + self.min_interval_s, now + self.min_interval_s)
            if slot > now:
                self._sleep(slot - now)
            # With a real sleep the clock is now past the slot; with a test's skipped sleep it
            # is not, and recording the slot keeps the virtual schedule consistent.
            start = max(self._clock(), slot)
            _write_time(fd, start)
            return start
        finally:
            # Closing the descriptor releases the flock.
            os.close(fd)


def _read_time(fd: int) -> float:
    os.lseek(fd, 0, os.SEEK_SET)
    raw = os.read(fd, 64)
    try:
        return float(raw.decode("ascii").strip() or 0.0)
    except (UnicodeDecodeError, ValueError):
        # A torn or foreign file: treat as "no request yet" rather than failing enrichment.
        return 0.0


def _write_time(fd: int, value: float) -> None:
    data = repr(value).encode("ascii")
    os.lseek(fd, 0, os.SEEK_SET)
    os.ftruncate(fd, 0)
    os.write(fd, data)
