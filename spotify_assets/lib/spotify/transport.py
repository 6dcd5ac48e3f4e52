"""The retrying request engine under SpotifyClient: rate gate, 429s, backoff, concurrency.

Spotify rate-limits per app over a rolling 30-second window, shared by all users, so a 429 seen
by one user's request holds back every user's requests of this client until the Retry-After
moment (the shared `RateGate`). Waits longer than `max_retry_after_s` are never slept through:
the request raises RateLimitDeferred and the caller postpones the user's work to a later tick.
"""

from __future__ import annotations

import json
import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from spotify_assets.lib.pseudonyms import who
from spotify_assets.lib.spotify.auth import redact, retry_after_seconds
from spotify_assets.lib.spotify.errors import (
    QuotaExceededError,
    RateLimitDeferred,
    SpotifyServerError,
)

log = logging.getLogger("spotify_assets.lib.spotify")

# A response callback: (user_id, endpoint template, url, status, raw body, the answer's `Date`).
OnResponse = Callable[[str, str, str, int, bytes, "datetime | None"], None]
# Failures where the request provably never reached the server; safe to retry even for a POST.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Query parameters that would be secrets; our URLs never carry them, this is a second fence.
_SECRET_PARAMS = frozenset({"access_token", "refresh_token", "code", "code_verifier",
                            "client_secret"})


@dataclass(frozen=True)
class RetryPolicy:
    """How hard one logical request tries before giving up."""

    max_attempts: int = 5  # per request, for 5xx answers and timeouts/connection errors
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    max_rate_limit_retries: int = 8  # 429s per request before RateLimitDeferred


class RateGate:
    """A thread-safe "nobody sends before" moment, shared by all users of one app."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._blocked_until = float("-inf")

    def block_for(self, seconds: float) -> None:
        with self._lock:
            self._blocked_until = max(self._blocked_until, self._clock() + seconds)

    def remaining(self) -> float:
        with self._lock:
            return max(0.0, self._blocked_until - self._clock())


class Transport:
    """Sends requests with the client's retry, rate-limit and concurrency rules."""

    def __init__(
        self,
        http: httpx.Client,
        *,
        max_retry_after_s: float,
        sleep: Callable[[float], None],
        clock: Callable[[], float],
        rng: random.Random,
        policy: RetryPolicy,
        max_concurrency: int,
        on_response: OnResponse | None,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1, got {max_concurrency}")
        self.http = http
        self.max_retry_after_s = max_retry_after_s
        self.sleep = sleep
        self.clock = clock
        self.rng = rng
        self.policy = policy
        self.on_response = on_response
        self.api_gate = RateGate(clock)
        self.accounts_gate = RateGate(clock)
        # Bounds in-flight requests of all users together; held only while a request is on
        # the wire, never while sleeping, so a waiting user does not block the others.
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self._rng_lock = threading.Lock()

    def send(
        self,
        user_id: str,
        endpoint: str,
        build: Callable[[], httpx.Request],
        *,
        gate: RateGate,
        land: bool,
        idempotent: bool,
    ) -> httpx.Response:
        """One logical request; returns the first answer that is not 429 or 5xx.

        `build` makes a fresh request per attempt. `land` passes every answer (errors too) to
        `on_response`; it is off for the accounts service, whose bodies carry tokens.
        """
        rate_limited = 0
        failures = 0
        while True:
            self._wait_for(gate, user_id, endpoint)
            request = build()
            try:
                with self._slots:
                    response = self.http.send(request)
            except httpx.RequestError as exc:
                failures += 1
                retryable = idempotent or isinstance(exc, _NOT_SENT)
                self._after_failure(user_id, endpoint, failures, retryable,
                                    None, f"{type(exc).__name__}: {exc}")
                continue
            if land and self.on_response is not None:
                self.on_response(user_id, endpoint, safe_url(response.request.url),
                                 response.status_code, response.content, http_date(response))
            status = response.status_code
            if status == 429:
                rate_limited += 1
                self._after_rate_limit(user_id, endpoint, response, rate_limited, gate)
                continue
            if status >= 500:
                failures += 1
                self._after_failure(user_id, endpoint, failures, idempotent, status,
                                    error_message(response))
                continue
            return response

    def _wait_for(self, gate: RateGate, user_id: str, endpoint: str) -> None:
        wait = gate.remaining()
        if wait <= 0:
            return
        if wait > self.max_retry_after_s:
            raise RateLimitDeferred(
                user_id, endpoint, 429,
                f"app is rate limited for another {wait:.0f} s, over the "
                f"{self.max_retry_after_s:.0f} s we wait; retry later",
                retry_after_s=wait,
            )
        log.info("spotify %s for %s: waiting %.1f s for the app rate limit",
                 endpoint, who(user_id), wait)
        self.sleep(wait)

    def _after_rate_limit(
        self, user_id: str, endpoint: str, response: httpx.Response, count: int, gate: RateGate
    ) -> None:
        if is_quota_exceeded(response):
            raise QuotaExceededError(
                user_id, endpoint, 429,
                "the developer account's quota is exceeded (QUOTA_EXCEEDED); waiting won't help",
            )
        retry_after = retry_after_seconds(response)
        gate.block_for(retry_after)
        if retry_after > self.max_retry_after_s:
            raise RateLimitDeferred(
                user_id, endpoint, 429,
                f"Retry-After {retry_after:.0f} s is over the {self.max_retry_after_s:.0f} s "
                "we wait; retry later",
                retry_after_s=retry_after,
            )
        if count > self.policy.max_rate_limit_retries:
            raise RateLimitDeferred(
                user_id, endpoint, 429,
                f"still rate limited after {count - 1} retries; retry later",
                retry_after_s=retry_after,
            )
        log.warning("spotify %s for %s: HTTP 429, Retry-After %.1f s (retry %d of %d)",
                    endpoint, who(user_id), retry_after, count, self.policy.max_rate_limit_retries)

    def _after_failure(
        self,
        user_id: str,
        endpoint: str,
        failures: int,
        retryable: bool,
        status: int | None,
        detail: str,
    ) -> None:
        if not retryable:
            # A POST that may have reached the server is not repeated: a retry could create
            # a second playlist or add the tracks twice.
            raise SpotifyServerError(
                user_id, endpoint, status,
                f"{detail}; not retried because the request may have been applied",
            )
        if failures >= self.policy.max_attempts:
            raise SpotifyServerError(
                user_id, endpoint, status, f"{detail} (gave up after {failures} attempts)"
            )
        delay = self.backoff_delay(failures)
        log.warning("spotify %s for %s: %s; retry %d of %d in %.2f s",
                    endpoint, who(user_id), detail, failures, self.policy.max_attempts - 1, delay)
        self.sleep(delay)

    def backoff_delay(self, failures: int) -> float:
        """Full-jitter exponential backoff: uniform(0, base * 2^(failures-1)), capped."""
        ceiling = min(self.policy.backoff_max_s,
                      self.policy.backoff_base_s * 2 ** (failures - 1))
        with self._rng_lock:
            return self.rng.uniform(0.0, ceiling)


def is_quota_exceeded(response: httpx.Response) -> bool:
    body = json_or_none(response.content)
    error = body.get("error") if isinstance(body, dict) else None
    return isinstance(error, dict) and error.get("reason") == "QUOTA_EXCEEDED"


def error_message(response: httpx.Response, secrets: tuple[str, ...] = ()) -> str:
    """The `error.message` of a Web API error body (short, secrets redacted), else the reason."""
    body = json_or_none(response.content)
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("message"):
        text = str(error["message"])
    elif isinstance(error, str):
        text = error
    else:
        text = response.reason_phrase or "error"
    return redact(text[:200], secrets)


def json_or_none(content: bytes) -> Any:
    try:
        return json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return None


def http_date(response: httpx.Response) -> datetime | None:
    """The answer's `Date` header as an aware datetime (the server's clock, the one Spotify's
    `played_at` is on), or None when absent or unreadable."""
    try:
        value = parsedate_to_datetime(response.headers.get("date", ""))
    except (TypeError, ValueError, IndexError):
        return None
    return value if value.tzinfo is not None else None


def request_label(url: str) -> str:
    """`/v1/me/top/tracks?time_range=short_term&limit=50&offset=0`: a request without its host
    (an emulator's port, a proxy), as a receipt names it and a replay matches it."""
    parsed = httpx.URL(url)
    query = parsed.query.decode()
    return parsed.path + (f"?{query}" if query else "")


def safe_url(url: httpx.URL) -> str:
    """The URL as text, with any secret-looking query parameter dropped."""
    params = url.params
    if any(key.lower() in _SECRET_PARAMS for key in params):
        kept = [(k, v) for k, v in params.multi_items() if k.lower() not in _SECRET_PARAMS]
        url = url.copy_with(params=kept)
    return str(url)
