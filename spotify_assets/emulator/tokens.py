"""The emulated accounts service's state: grants, authorization codes and issued tokens.

Token and code values come from `secrets` (unguessable, the one non-deterministic part of the
emulator). Access tokens live 3600 s of the emulator clock. A refresh token belongs to a grant
(one authorization); every 3rd refresh of a grant rotates it: the answer carries a new
`refresh_token` and the old one stops working. Refresh tokens also expire 182 days after the
original authorization (Spotify's 2026 six-month rule) and when the user is revoked.
`accounts.py` serves them over HTTP.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

from spotify_assets.lib.settings import EMULATOR_CLIENT_ID

ACCESS_TOKEN_SECONDS = 3600
CODE_SECONDS = 600
REFRESH_LIFETIME = timedelta(days=182)
ROTATE_EVERY = 3
KNOWN_CLIENT_IDS = (EMULATOR_CLIENT_ID,)


class OAuthError(Exception):
    """An accounts-service error answered as `{"error", "error_description"}`."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status


@dataclass
class IssuedToken:
    kind: str  # "access" | "refresh"
    value: str = field(repr=False)
    user_id: str
    scope: str
    issued_at: datetime
    expires_at: datetime | None
    grant: int
    status: str = "valid"  # valid | rotated | revoked

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "token": self.value,
            "user_id": self.user_id,
            "scope": self.scope,
            "issued_at": self.issued_at.isoformat(),
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "status": self.status,
        }


@dataclass
class _Grant:
    user_id: str
    client_id: str
    scope: str
    authorized_at: datetime
    refreshes: int = 0


@dataclass
class _Code:
    user_id: str
    client_id: str
    redirect_uri: str
    scope: str
    challenge: str
    expires_at: datetime
    used: bool = False


def s256(verifier: str) -> str:
    """PKCE S256: base64url(sha256(verifier)) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class Accounts:
    """Codes, grants and every token issued; thread-safe."""

    def __init__(self, user_ids: list[str], now: Callable[[], datetime]) -> None:
        self.user_ids = list(user_ids)
        self.now = now
        self.tokens: list[IssuedToken] = []
        self._by_value: dict[str, IssuedToken] = {}
        self._codes: dict[str, _Code] = {}
        self._grants: list[_Grant] = []
        self._lock = threading.Lock()

    # authorization codes ---------------------------------------------------------------------
    def issue_code(
        self, user_id: str, client_id: str, redirect_uri: str, scope: str, challenge: str
    ) -> str:
        code = "AQ" + secrets.token_urlsafe(96)
        with self._lock:
            self._codes[code] = _Code(user_id, client_id, redirect_uri, scope, challenge,
                                      self.now() + timedelta(seconds=CODE_SECONDS))
        return code

    def user_of_code(self, code: str) -> str | None:
        with self._lock:
            found = self._codes.get(code)
        return found.user_id if found else None

    def exchange_code(
        self, code: str, redirect_uri: str, client_id: str, verifier: str
    ) -> dict[str, Any]:
        with self._lock:
            found = self._codes.get(code)
            if found is None or found.used or self.now() >= found.expires_at:
                raise OAuthError("invalid_grant", "Invalid authorization code")
            if found.client_id != client_id:
                raise OAuthError("invalid_client", "Invalid client")
            if found.redirect_uri != redirect_uri:
                raise OAuthError("invalid_grant", "Invalid redirect URI")
            if not verifier or s256(verifier) != found.challenge:
                raise OAuthError("invalid_grant", "code_verifier was incorrect")
            found.used = True
            self._grants.append(_Grant(found.user_id, client_id, found.scope, self.now()))
            grant = len(self._grants) - 1
            access = self._issue("access", grant)
            refresh = self._issue("refresh", grant)
        return _token_body(access, refresh)

    # refresh ---------------------------------------------------------------------------------
    def user_of_refresh(self, value: str) -> str | None:
        with self._lock:
            token = self._by_value.get(value)
        return token.user_id if token and token.kind == "refresh" else None

    def refresh(self, value: str, client_id: str) -> dict[str, Any]:
        with self._lock:
            token = self._by_value.get(value)
            if token is None or token.kind != "refresh" or token.status == "rotated":
                raise OAuthError("invalid_grant", "Invalid refresh token")
            if token.status == "revoked":
                raise OAuthError("invalid_grant", "Refresh token revoked")
            grant = self._grants[token.grant]
            if grant.client_id != client_id:
                raise OAuthError("invalid_client", "Invalid client")
            if self.now() >= grant.authorized_at + REFRESH_LIFETIME:
                raise OAuthError("invalid_grant", "Refresh token expired")
            grant.refreshes += 1
            access = self._issue("access", token.grant)
            rotated = None
            if grant.refreshes % ROTATE_EVERY == 0:
                token.status = "rotated"
                rotated = self._issue("refresh", token.grant)
        return _token_body(access, rotated)

    # access ----------------------------------------------------------------------------------
    def lookup(self, value: str) -> IssuedToken | None:
        with self._lock:
            token = self._by_value.get(value)
        return token if token and token.kind == "access" else None

    def revoke_user(self, user_id: str) -> int:
        """Revoke every token of the user; returns how many were still valid."""
        count = 0
        with self._lock:
            for token in self.tokens:
                if token.user_id == user_id and token.status == "valid":
                    token.status = "revoked"
                    count += 1
        return count

    def _issue(self, kind: str, grant: int) -> IssuedToken:
        prefix = "BQ" if kind == "access" else "AQ"
        now = self.now()
        source = self._grants[grant]
        token = IssuedToken(
            kind=kind,
            value=prefix + secrets.token_urlsafe(96),
            user_id=source.user_id,
            scope=source.scope,
            issued_at=now,
            expires_at=now + timedelta(seconds=ACCESS_TOKEN_SECONDS) if kind == "access" else None,
            grant=grant,
        )
        self.tokens.append(token)
        self._by_value[token.value] = token
        return token


def _token_body(access: IssuedToken, refresh: IssuedToken | None) -> dict[str, Any]:
    # Key order as in the recorded PKCE refresh fixture.
    body: dict[str, Any] = {
        "access_token": access.value,
        "token_type": "Bearer",
        "expires_in": ACCESS_TOKEN_SECONDS,
    }
    if refresh is not None:
        body["refresh_token"] = refresh.value
    body["scope"] = access.scope
    return body


def parse_form(body: bytes) -> dict[str, str]:
    return dict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))
