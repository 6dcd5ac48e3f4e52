"""A Spotify client that answers from landed bodies instead of the network: the rebuild's.

A snapshot write records which requests it made and where their answers landed in raw (its
receipt, `lib/raw.py`). Replaying runs the same client code (paging, deduplication, models,
the re-fetch of a garbled body) over those bodies, in the order they came, so the rows come
back as the run built them. A request the receipt does not hold in that place is an error: the
code and the receipt disagree, and guessing would rebuild something else.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx

from spotify_assets.lib.settings import Settings
from spotify_assets.lib.spotify import errors
from spotify_assets.lib.spotify.client import SpotifyClient
from spotify_assets.lib.spotify.errors import SpotifyError
from spotify_assets.lib.spotify.transport import request_label


class ReplayMismatch(RuntimeError):
    """The replayed code asked for something its receipt does not record."""


class ReplayClient(SpotifyClient):
    """`SpotifyClient` whose GETs are answered, in order, by recorded (request, body) pairs."""

    def __init__(self, settings: Settings,
                 calls: Iterable[tuple[str, bytes | SpotifyError]]) -> None:
        super().__init__(settings, tokens=_NoTokens())
        self._recorded: deque[tuple[str, bytes | SpotifyError]] = deque(calls)

    @classmethod
    def from_receipt(cls, settings: Settings, raw_root: Path,
                     calls: Iterable[tuple[str, str | dict]]) -> ReplayClient:
        """`calls`: a receipt's (request, raw path relative to `raw_root`) pairs, or (request,
        {"error", "endpoint", "status"}) for a request that failed (raised again here)."""
        from spotify_assets.lib.raw import RawStore

        return cls(settings, [
            (request, _failure(path) if isinstance(path, dict) else RawStore.read(raw_root / path))
            for request, path in calls
        ])

    @property
    def unanswered(self) -> int:
        return len(self._recorded)

    def finish(self, what: str) -> None:
        """Raise when the replayed code left recorded answers unasked: it read less than the
        run did, so it cannot have built the same rows."""
        if self._recorded:
            raise ReplayMismatch(f"{what}: {len(self._recorded)} recorded answers unused")

    def _call(self, user_id: str, method: str, endpoint: str, path: str, *,
              params: dict[str, Any] | None = None, json_body: Any = None) -> httpx.Response:
        request = self._http.build_request(method, self._api_base + path, params=params)
        label = request_label(str(request.url))
        if method != "GET" or not self._recorded:
            raise ReplayMismatch(f"{method} {label}: not in the receipt")
        recorded, body = self._recorded.popleft()
        if recorded != label:
            raise ReplayMismatch(f"asked {label}, the receipt has {recorded} next")
        if isinstance(body, SpotifyError):
            raise body
        return httpx.Response(200, content=body, request=request)


def _failure(recorded: dict) -> SpotifyError:
    """The error a recorded request failed with (its class, endpoint and status; the message
    is not kept, nothing written depends on it)."""
    cls = getattr(errors, recorded["error"], None)
    if not (isinstance(cls, type) and issubclass(cls, SpotifyError)):
        raise ReplayMismatch(f"a receipt records an unknown failure {recorded['error']!r}")
    return errors.from_state(cls, {
        "user_id": None, "endpoint": recorded["endpoint"], "status": recorded["status"],
        "message": "replayed from a receipt", "retry_after_s": 0.0})


class _NoTokens:
    """A replay never authenticates: no request leaves the process."""

    def get_refresh_token(self, user_id: str) -> str:
        raise ReplayMismatch("a replay asked for a token")

    def save_refresh_token(self, user_id: str, token: str) -> None:
        raise ReplayMismatch("a replay asked to save a token")

    def mark_needs_reauth(self, user_id: str, reason: str) -> None:
        raise ReplayMismatch("a replay asked to mark a listener")
