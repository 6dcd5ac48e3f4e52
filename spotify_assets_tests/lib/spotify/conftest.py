"""Helpers for the client tests: fake time, an in-memory TokenStore, the authorize flow."""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field

import httpx

from spotify_assets.lib.settings import Settings
from spotify_assets.lib.spotify import auth


class FakeTime:
    """Injected clock + sleep: sleeping records the wait and advances the clock, instantly."""

    def __init__(self, *, advance_on_sleep: bool = True) -> None:
        self.now = 10_000.0
        self.sleeps: list[float] = []
        self.advance_on_sleep = advance_on_sleep
        self._lock = threading.Lock()

    def clock(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            if self.advance_on_sleep:
                self.now += seconds

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


@dataclass
class MemoryTokenStore:
    """The TokenStore protocol over a dict; records every save and reauth mark."""

    tokens: dict[str, str] = field(default_factory=dict)
    saved: list[tuple[str, str]] = field(default_factory=list)
    needs_reauth: dict[str, str] = field(default_factory=dict)

    def get_refresh_token(self, user_id: str) -> str:
        return self.tokens[user_id]

    def save_refresh_token(self, user_id: str, token: str) -> None:
        self.tokens[user_id] = token
        self.saved.append((user_id, token))

    def mark_needs_reauth(self, user_id: str, reason: str) -> None:
        self.needs_reauth[user_id] = reason


def authorize(settings: Settings, user_id: str) -> auth.TokenResponse:
    """Drive the real emulator authorize flow for a demo user and exchange the code."""
    verifier, challenge = auth.pkce_pair()
    state = secrets.token_urlsafe(8)
    url = auth.build_authorize_url(
        settings, state, challenge, [*auth.READ_SCOPES, *auth.PLAYLIST_SCOPES],
        {"emulator_user": user_id},
    )
    with httpx.Client(follow_redirects=False, timeout=10) as http:
        answer = http.get(url)
    assert answer.is_redirect, f"authorize answered {answer.status_code}: {answer.text[:200]}"
    location = httpx.URL(answer.headers["location"])
    assert location.params["state"] == state
    return auth.exchange_code(settings, location.params["code"], verifier)
