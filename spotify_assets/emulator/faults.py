"""Switchable faults (applied by `middleware.FaultMiddleware`) and the JSON helpers every
emulator route uses.

A fault rule matches a request path with `fnmatch` (and optionally the user the request is made
for) and replaces or alters the answer. Kinds:
- `rate_limit`: 429 + `Retry-After: retry_after` (default 1) and Spotify's rate-limit body.
- `quota`: 429 with `"reason": "QUOTA_EXCEEDED"` (Retry-After only when `retry_after` is set).
- `status`: the given status (default 500) with a Spotify error body.
- `slow`: sleeps `delay_s` (default 5) before answering normally, to trip client timeouts.
- `malformed`: the real answer's body cut in half, so it is not valid JSON (status 200).
- `truncated`: the real page with its `items` cut to half while `total`/`next` stay, so the page
  is shorter than it claims.
- `invalid_grant`: 400 `{"error": "invalid_grant", ...}` as the accounts service answers.
- `window`: a real limiter, at most `limit` requests per rolling 30 s (monotonic time) on the
  matching paths; past it 429 with `Retry-After` = whole seconds until a slot frees.
- `lost_answer`: the request is applied, then answered `status` (default 500) with an error
  body, as when a gateway gives up after the backend committed (a retried POST would repeat it).
`times` is how many requests a rule hits (None = until deleted); `after` lets that many matching
requests through first (to hit, say, the third page of a listing). Rules are tried in the order
they were added and the first one that fires wins; a `window` rule only fires when it rejects.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import Response

FAULT_KINDS = (
    "rate_limit",
    "quota",
    "status",
    "slow",
    "malformed",
    "truncated",
    "invalid_grant",
    "window",
    "lost_answer",
)
WINDOW_SECONDS = 30.0
JSON_TYPE = "application/json; charset=utf-8"
QUOTA_BODY = {"error": {"status": 429, "message": "Too many requests", "reason": "QUOTA_EXCEEDED"}}


def json_bytes(payload: Any) -> bytes:
    """Stable serialisation: insertion-ordered keys, 2-space indent, UTF-8 like Spotify's."""
    return json.dumps(payload, ensure_ascii=False, indent=2).encode("utf-8")


def json_response(
    payload: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(json_bytes(payload), status_code=status, headers=headers, media_type=JSON_TYPE)


def spotify_error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """Spotify's Web API error body: `{"error": {"status", "message"}}`."""
    return json_response({"error": {"status": status, "message": message}}, status, headers)


def oauth_error(error: str, description: str, status: int = 400) -> Response:
    """The accounts service's error body: `{"error", "error_description"}`."""
    return json_response({"error": error, "error_description": description}, status)


@dataclass
class FaultRule:
    path: str
    kind: str
    status: int = 500
    retry_after: int | None = None
    delay_s: float = 5.0
    times: int | None = None
    user: str | None = None
    limit: int = 10
    after: int = 0
    hits: int = 0
    _window: deque[float] = field(default_factory=deque, repr=False)

    @classmethod
    def from_json(cls, raw: Any) -> FaultRule:
        """Validate one rule from the control API; errors name the offending field."""
        if not isinstance(raw, dict):
            raise ValueError(f"a fault rule must be a JSON object, got {raw!r}")
        unknown = sorted(set(raw) - {"path", "kind", "status", "retry_after", "delay_s",
                                     "times", "user", "limit", "after"})
        if unknown:
            raise ValueError(f"unknown fault rule field(s): {', '.join(unknown)}")
        kind = raw.get("kind")
        if kind not in FAULT_KINDS:
            raise ValueError(f"fault kind must be one of {', '.join(FAULT_KINDS)}, got {kind!r}")
        path = raw.get("path", "*")
        if not isinstance(path, str) or not path:
            raise ValueError(f"fault path must be a non-empty string, got {path!r}")
        rule = cls(path=path, kind=kind)
        for name, kind_ok in (("status", int), ("retry_after", int), ("times", int),
                              ("limit", int), ("delay_s", (int, float)), ("user", str),
                              ("after", int)):
            if raw.get(name) is None:
                continue
            value = raw[name]
            if isinstance(value, bool) or not isinstance(value, kind_ok):
                raise ValueError(f"fault field {name!r} has the wrong type: {value!r}")
            setattr(rule, name, value)
        if not 400 <= rule.status <= 599:
            raise ValueError(f"fault status must be 400..599, got {rule.status}")
        if rule.times is not None and rule.times < 0:
            raise ValueError(f"fault times must be >= 0 or null, got {rule.times}")
        if rule.limit < 0 or rule.delay_s < 0 or rule.after < 0:
            raise ValueError("fault limit, delay_s and after must be >= 0")
        return rule

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path, "kind": self.kind, "status": self.status,
            "retry_after": self.retry_after, "delay_s": self.delay_s, "times": self.times,
            "user": self.user, "limit": self.limit, "after": self.after, "hits": self.hits,
        }

    def matches(self, path: str, user: str | None) -> bool:
        if self.times is not None and self.times <= 0:
            return False
        if self.user is not None and self.user != user:
            return False
        return fnmatch.fnmatchcase(path, self.path)


@dataclass(frozen=True)
class Decision:
    rule: FaultRule
    retry_after: int | None = None


class FaultEngine:
    """The active rules; safe to use from the server thread and a test thread at once."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()
        self._clock = clock

    def add(self, rule: FaultRule) -> None:
        with self._lock:
            self._rules.append(rule)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def decide(self, path: str, user: str | None) -> Decision | None:
        """The rule that fires for this request (consuming one of its `times`), if any."""
        with self._lock:
            for rule in self._rules:
                if not rule.matches(path, user):
                    continue
                if rule.after > 0:
                    rule.after -= 1
                    continue
                if rule.kind == "window":
                    wait = self._window_wait(rule)
                    if wait is None:
                        continue
                    self._consume(rule)
                    return Decision(rule, retry_after=wait)
                self._consume(rule)
                return Decision(rule)
        return None

    def _window_wait(self, rule: FaultRule) -> int | None:
        """None when the request fits the rolling window (and is recorded), else seconds."""
        now = self._clock()
        window = rule._window
        while window and window[0] <= now - WINDOW_SECONDS:
            window.popleft()
        if len(window) < rule.limit:
            window.append(now)
            return None
        if not window:  # limit 0: nothing ever fits
            return int(WINDOW_SECONDS)
        return max(1, math.ceil(window[0] + WINDOW_SECONDS - now))

    @staticmethod
    def _consume(rule: FaultRule) -> None:
        rule.hits += 1
        if rule.times is not None:
            rule.times -= 1


async def sleep_unless(stopping: asyncio.Event | threading.Event, seconds: float) -> None:
    """Sleep in small steps so a stopping server is not held up by a `slow` fault."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not stopping.is_set():
        await asyncio.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
