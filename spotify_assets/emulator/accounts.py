"""The emulated Spotify accounts service: `/authorize` (authorization code + PKCE) and `/api/token`.

Token and code values come from `secrets` (unguessable, the one non-deterministic part of the
emulator). Access tokens live 3600 s of the emulator clock. A refresh token belongs to a grant
(one authorization); every 3rd refresh of a grant rotates it: the answer carries a new
`refresh_token` and the old one stops working. Refresh tokens also expire 182 days after the
original authorization (Spotify's 2026 six-month rule) and when the user is revoked.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import html
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlparse

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from spotify_assets.emulator.faults import json_response, oauth_error
from spotify_assets.lib.settings import EMULATOR_CLIENT_ID

if TYPE_CHECKING:
    from spotify_assets.emulator.app import EmulatorState

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


# --------------------------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------------------------


def _state(request: Request) -> EmulatorState:
    return request.app.state.emulator


def _error_page(message: str) -> HTMLResponse:
    body = f"<!doctype html><title>Error</title><h1>{html.escape(message)}</h1>"
    return HTMLResponse(body, status_code=400)


async def authorize(request: Request) -> Response:
    """Approve `emulator_user` at once, or show a page of demo users to pick from."""
    state = _state(request)
    params = request.query_params
    client_id = params.get("client_id", "")
    redirect_uri = params.get("redirect_uri", "")
    if client_id not in KNOWN_CLIENT_IDS:
        return _error_page("INVALID_CLIENT: Invalid client")
    if urlparse(redirect_uri).scheme not in ("http", "https"):
        return _error_page("INVALID_CLIENT: Invalid redirect URI")
    if params.get("response_type") != "code":
        return _error_page("unsupported_response_type: response_type must be code")
    challenge = params.get("code_challenge", "")
    if params.get("code_challenge_method") != "S256" or not challenge:
        return _error_page("invalid_request: PKCE with code_challenge_method=S256 is required")
    user_id = params.get("emulator_user")
    if user_id is None:
        return _picker(request)
    if user_id not in state.world.users:
        return _error_page(f"unknown emulator_user {user_id!r}")
    answer: dict[str, str] = {}
    if params.get("emulator_deny") == "1":
        answer["error"] = "access_denied"
    else:
        scope = " ".join(params.get("scope", "").split())
        answer["code"] = state.accounts.issue_code(
            user_id, client_id, redirect_uri, scope, challenge
        )
    if "state" in params:
        answer["state"] = params["state"]
    separator = "&" if urlparse(redirect_uri).query else "?"
    return RedirectResponse(redirect_uri + separator + urlencode(answer), status_code=302)


def _picker(request: Request) -> HTMLResponse:
    state = _state(request)
    items = []
    for user in state.world.users.values():
        query = urlencode([*request.query_params.multi_items(), ("emulator_user", user.id)])
        items.append(
            f'<li><a href="/authorize?{html.escape(query)}">{html.escape(user.display_name)}'
            f" ({html.escape(user.id)}, {html.escape(user.habit)})</a></li>"
        )
    body = (
        "<!doctype html><meta charset=utf-8><title>Spotify emulator: log in</title>"
        "<h1>Log in to the Spotify emulator as</h1><ul>" + "".join(items) + "</ul>"
    )
    return HTMLResponse(body)


def _client_id(request: Request, form: dict[str, str]) -> str:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(header[6:].strip()).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise OAuthError("invalid_client", "Invalid client") from None
        return decoded.split(":", 1)[0]
    return form.get("client_id", "")


def parse_form(body: bytes) -> dict[str, str]:
    return dict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))


async def token(request: Request) -> Response:
    """POST /api/token: authorization_code (with code_verifier) or refresh_token grants."""
    state = _state(request)
    form = parse_form(await request.body())
    try:
        client_id = _client_id(request, form)
        if client_id not in KNOWN_CLIENT_IDS:
            raise OAuthError("invalid_client", "Invalid client")
        grant_type = form.get("grant_type")
        if not grant_type:
            raise OAuthError("unsupported_grant_type", "grant_type parameter is missing")
        if grant_type == "authorization_code":
            body = state.accounts.exchange_code(
                form.get("code", ""), form.get("redirect_uri", ""), client_id,
                form.get("code_verifier", ""),
            )
        elif grant_type == "refresh_token":
            if not form.get("refresh_token"):
                raise OAuthError("invalid_request", "refresh_token must be supplied")
            body = state.accounts.refresh(form["refresh_token"], client_id)
        else:
            raise OAuthError("unsupported_grant_type", f"grant_type {grant_type!r} is unknown")
    except OAuthError as exc:
        return oauth_error(exc.error, exc.description, exc.status)
    return json_response(body)


def routes() -> list[Route]:
    return [
        Route("/authorize", authorize, methods=["GET"]),
        Route("/api/token", token, methods=["POST"]),
    ]
