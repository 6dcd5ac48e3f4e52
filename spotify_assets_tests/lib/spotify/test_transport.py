"""The shared rate gate, backoff jitter and URL scrubbing (no network).

Retries against real answers (429 storms, 5xx, timeouts) are in test_client_faults.py.
"""

from __future__ import annotations

import random
import threading

import httpx
import pytest

from spotify_assets.lib.spotify.transport import RateGate, RetryPolicy, Transport, safe_url


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_transport(seed: int, policy: RetryPolicy | None = None) -> Transport:
    return Transport(
        httpx.Client(), max_retry_after_s=60, sleep=lambda s: None, clock=Clock(),
        rng=random.Random(seed), policy=policy or RetryPolicy(), max_concurrency=2,
        on_response=None,
    )


def test_rate_gate_keeps_the_latest_block_and_expires() -> None:
    clock = Clock()
    gate = RateGate(clock)
    assert gate.remaining() == 0
    gate.block_for(5)
    gate.block_for(2)  # a shorter Retry-After must not shorten an earlier, longer one
    assert gate.remaining() == 5
    clock.now += 3
    assert gate.remaining() == 2
    clock.now += 10
    assert gate.remaining() == 0


def test_rate_gate_is_shared_across_threads() -> None:
    clock = Clock()
    gate = RateGate(clock)
    threads = [threading.Thread(target=gate.block_for, args=(s,)) for s in (1, 7, 3, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert gate.remaining() == 7


def test_backoff_is_full_jitter_exponential_and_reproducible() -> None:
    policy = RetryPolicy(backoff_base_s=0.5, backoff_max_s=3.0)
    first = [make_transport(11, policy).backoff_delay(n) for n in range(1, 8)]
    second = [make_transport(11, policy).backoff_delay(n) for n in range(1, 8)]
    other = [make_transport(12, policy).backoff_delay(n) for n in range(1, 8)]
    assert first == second
    assert first != other
    ceilings = [0.5, 1.0, 2.0, 3.0, 3.0, 3.0, 3.0]
    for delay, ceiling in zip(first, ceilings, strict=True):
        assert 0 <= delay <= ceiling


def test_backoff_spreads_over_the_whole_window() -> None:
    transport = make_transport(3, RetryPolicy(backoff_base_s=1.0))
    delays = [transport.backoff_delay(1) for _ in range(400)]
    assert min(delays) < 0.1 and max(delays) > 0.9  # full jitter, not "base plus a little"


def test_max_concurrency_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_concurrency"):
        Transport(httpx.Client(), max_retry_after_s=1, sleep=lambda s: None, clock=Clock(),
                  rng=random.Random(), policy=RetryPolicy(), max_concurrency=0,
                  on_response=None)


def test_safe_url_drops_secret_parameters_only() -> None:
    url = httpx.URL("http://h/v1/x?limit=5&access_token=abc&Code=zz&after=9")
    assert safe_url(url) == "http://h/v1/x?limit=5&after=9"
    plain = httpx.URL("http://h/v1/me/top/tracks?time_range=short_term&limit=50&offset=0")
    assert safe_url(plain) == str(plain)
