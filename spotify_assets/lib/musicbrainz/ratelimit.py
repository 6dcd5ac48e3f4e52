"""One request per interval across every process of a deployment, via an fcntl-locked file.

`with limiter.slot():` takes an exclusive `flock` on the file, reads the time the previous
request *finished*, sleeps until one interval after it, lets the request run, writes the time
it finished and releases the lock. So two runs enriching at once queue behind each other.

Why the end and not the start: a request reaches the server some time after it starts (connect,
send, scheduling) and before it ends. Spacing starts 1.0 s apart lets two requests arrive less
than 1 s apart when the first was slower to arrive, and MusicBrainz (and the emulator) answer
503 to that. Spacing from the end holds at the server whatever the latency, at the price of
the request's own duration per interval (~0.8 request/s against a 250 ms server).

`flock` locks belong to the open file description, so threads of one process opening the file
separately exclude each other too.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path


class FileRateLimiter:
    """Spaces requests `min_interval_s` apart (end of one to start of the next), all processes."""

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

    @contextlib.contextmanager
    def slot(self) -> Iterator[float]:
        """Hold the slot for one request; yields the time it may start."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            previous_end = _read_time(fd)
            now = self._clock()
            # A wall clock stepped backwards leaves the previous end in the future; never wait
            # more than one interval for it.
            start_at = min(previous_end, now) + self.min_interval_s
            if start_at > now:
                self._sleep(start_at - now)
            # With a real sleep the clock is now past `start_at`; with a test's skipped sleep it
            # is not, and using `start_at` keeps the virtual schedule consistent.
            start = max(self._clock(), start_at)
            try:
                yield start
            finally:
                # Failed requests count too: the server saw them.
                _write_time(fd, max(self._clock(), start))
        finally:
            # Closing the descriptor releases the flock.
            os.close(fd)


def _read_time(fd: int) -> float:
    os.lseek(fd, 0, os.SEEK_SET)
    raw = os.read(fd, 64)
    try:
        return float(raw.decode("ascii").strip() or "-inf")
    except (UnicodeDecodeError, ValueError):
        # A torn or foreign file: treat as "no request yet" rather than failing enrichment.
        return float("-inf")


def _write_time(fd: int, value: float) -> None:
    data = repr(value).encode("ascii")
    os.lseek(fd, 0, os.SEEK_SET)
    os.ftruncate(fd, 0)
    os.write(fd, data)
