"""The cross-process 1 request/s limiter: unit behaviour with a fake clock, then for real.

The real test starts two processes that hammer the emulator through `MusicBrainzClient` for
about 4 s with the production interval and real sleeps, and checks the emulator's own record
of arrival times: never two requests less than 1 s apart, and never a 503. It takes ~6 s.
"""

from __future__ import annotations

import itertools
import multiprocessing
import threading
import time
from pathlib import Path

import pytest

from spotify_assets.emulator.musicbrainz import mb_state
from spotify_assets.lib.musicbrainz.client import MusicBrainzClient
from spotify_assets.lib.musicbrainz.ratelimit import FileRateLimiter
from spotify_assets.lib.settings import load_settings


class FakeClock:
    """A clock that only moves when the code under test sleeps."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _request(limiter: FileRateLimiter, clock: FakeClock, duration_s: float = 0.25) -> float:
    with limiter.slot() as start:
        clock.now += duration_s  # the request itself takes a while
    return start


def test_first_request_is_free_then_one_interval_after_the_previous_end(tmp_path):
    clock = FakeClock()
    limiter = FileRateLimiter(tmp_path / "mb.lock", 1.0, sleep=clock.sleep, clock=clock.time)
    starts = [_request(limiter, clock) for _ in range(4)]
    assert clock.sleeps == [1.0, 1.0, 1.0]
    assert [b - a for a, b in itertools.pairwise(starts)] == [1.25, 1.25, 1.25]


def test_two_limiters_on_one_file_share_the_budget(tmp_path):
    # Two clients (as two processes would) read and write the same file.
    clock = FakeClock()
    path = tmp_path / "state" / "musicbrainz.ratelimit"
    a = FileRateLimiter(path, 1.0, sleep=clock.sleep, clock=clock.time)
    b = FileRateLimiter(path, 1.0, sleep=clock.sleep, clock=clock.time)
    starts = [_request(a, clock), _request(b, clock), _request(a, clock), _request(b, clock)]
    assert [b - a for a, b in itertools.pairwise(starts)] == [1.25, 1.25, 1.25]
    assert float(path.read_text()) == starts[-1] + 0.25


def test_time_since_the_last_request_counts(tmp_path):
    clock = FakeClock()
    limiter = FileRateLimiter(tmp_path / "mb.lock", 1.0, sleep=clock.sleep, clock=clock.time)
    _request(limiter, clock, duration_s=0.0)
    clock.now += 0.7
    _request(limiter, clock)
    assert clock.sleeps == [pytest.approx(0.3)]
    clock.now += 5
    _request(limiter, clock)
    assert len(clock.sleeps) == 1


def test_a_failed_request_still_uses_its_slot(tmp_path):
    clock = FakeClock()
    limiter = FileRateLimiter(tmp_path / "mb.lock", 1.0, sleep=clock.sleep, clock=clock.time)
    with pytest.raises(ConnectionError), limiter.slot():
        clock.now += 0.1
        raise ConnectionError("reset")
    _request(limiter, clock)
    assert clock.sleeps == [1.0]


def test_a_clock_stepped_back_never_waits_more_than_one_interval(tmp_path):
    path = tmp_path / "mb.lock"
    path.write_text(repr(2_000_000.0))  # written before the clock went back a whole day
    clock = FakeClock(now=2_000_000.0 - 86_400)
    _request(FileRateLimiter(path, 1.0, sleep=clock.sleep, clock=clock.time), clock)
    assert clock.sleeps == [1.0]


def test_a_garbled_file_is_treated_as_no_previous_request(tmp_path):
    path = tmp_path / "mb.lock"
    path.write_bytes(b"\xff\xfegarbage")
    clock = FakeClock()
    start = _request(FileRateLimiter(path, 1.0, sleep=clock.sleep, clock=clock.time), clock)
    assert clock.sleeps == [] and float(path.read_text()) == start + 0.25


def test_threads_of_one_process_are_serialised_by_the_file_lock(tmp_path):
    path = tmp_path / "mb.lock"
    spans: list[tuple[float, float]] = []
    lock = threading.Lock()

    def worker() -> None:
        limiter = FileRateLimiter(path, 0.2)
        for _ in range(3):
            with limiter.slot() as start:
                time.sleep(0.01)
                end = time.time()
            with lock:
                spans.append((start, end))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    spans.sort()
    assert len(spans) == 6
    # Each request starts at least one interval after the previous one ended.
    assert min(b[0] - a[1] for a, b in itertools.pairwise(spans)) >= 0.2


# --- for real: two processes, production interval, real sleeps ---------------------------------


def _hammer(settings_kwargs: dict, isrc: str, start_at: float, stop_at: float) -> int:
    """Child process: ask as fast as our limiter allows until `stop_at`; return the count."""
    client = MusicBrainzClient(load_settings(**settings_kwargs))
    time.sleep(max(0.0, start_at - time.time()))
    done = 0
    while time.time() < stop_at:
        client.recordings_by_isrc(isrc)
        done += 1
    return done


def test_two_processes_never_exceed_one_request_per_second_at_the_server(emu, tmp_path: Path):
    state = mb_state(emu.state)
    state.reset()  # the emulator refuses (503) anything faster than 1 s per IP + User-Agent
    track = next(t for t in emu.state.world.tracks.values() if t.mb and t.isrc in t.mb.isrcs)
    # An agent of its own: the emulator limits per IP + User-Agent, and a late request of
    # another test (e.g. one a timeout test abandoned) must not share this budget.
    agent = f"ratelimit-test/{time.time_ns()} ( tests@example.org )"
    settings_kwargs = {"mode": "emulator", "data_dir": tmp_path / "data",
                       "emulator_port": emu.port, "musicbrainz_url": emu.base_url,
                       "musicbrainz_user_agent": agent}
    start_at = time.time() + 2.0  # spawned interpreters need a moment to import
    stop_at = start_at + 4.0
    context = multiprocessing.get_context("spawn")
    with context.Pool(2) as pool:
        results = [pool.apply_async(_hammer, (settings_kwargs, track.isrc, start_at, stop_at))
                   for _ in range(2)]
        counts = [r.get(timeout=60) for r in results]
        # Let the workers finish and exit. Leaving the block terminates them with SIGTERM,
        # and a worker that inherited SIGTERM ignored (see conftest.heed_interrupts) and was
        # waiting on the pool's queue lock then never exited.
        pool.close()
        pool.join()
    arrivals = [a for a in state.arrivals if a.client[1].startswith(agent.split(" ")[0])]
    state.reset()
    assert all(count >= 1 for count in counts), counts  # both processes got turns
    assert [a.status for a in arrivals] == [200] * len(arrivals)  # no 503, no 403
    times = sorted(a.at for a in arrivals)
    assert len(times) == sum(counts) >= 4
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 1.0, gaps
    assert (tmp_path / "data" / "state" / "musicbrainz.ratelimit").exists()
