"""Spotify accounts: PKCE, the authorize URL, code exchange and token refresh.

Tokens travel only in form bodies and Authorization headers, never in URLs, so nothing that
logs URLs (httpx logs every request URL at INFO) can leak one. `TokenResponse` hides its tokens
from repr, and error messages redact the tokens of the request that failed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx

from spotify_assets.lib.settings import Settings
from spotify_assets.lib.spotify.errors import (
    AuthorizationError,
    InvalidGrantError,
    RateLimitDeferred,
    SpotifyServerError,
)

TOKEN_ENDPOINT = "POST /api/token"
# What the pipeline reads; playlist scopes are only asked of users who opt in to playlists.
READ_SCOPES: tuple[str, ...] = (
    "user-read-recently-played",
    "user-top-read",
    "user-follow-read",
    "user-read-private",
)
PLAYLIST_SCOPES: tuple[str, ...] = ("playlist-modify-private",)


@dataclass(frozen=True)
class TokenResponse:
    """A successful /api/token answer; `refresh_token` is None when Spotify did not rotate it."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_in: int
    scope: str

    def __repr__(self) -> str:
        rotated = "<new>" if self.refresh_token else None
        return (
            f"TokenResponse(access_token=<hidden>, refresh_token={rotated}, "
            f"expires_in={self.expires_in}, scope={self.scope!r})"
        )

    __str__ = __repr__


def pkce_pair() -> tuple[str, str]:
    """A fresh RFC 7636 (verifier, S256 challenge) pair."""
    # 64 random bytes -> 86 base64url characters, inside the 43..128 the RFC allows.
    verifier = secrets.token_urlsafe(64)
    return verifier, pkce_challenge(verifier)


def pkce_challenge(verifier: str) -> str:
    """BASE64URL(SHA256(ASCII(verifier))) without padding (RFC 7636 section 4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def build_authorize_url(
    settings: Settings,
    state: str,
    code_challenge: str,
    scopes: Iterable[str],
    extra_params: Mapping[str, str] | None = None,
) -> str:
    """The URL a user opens to grant access (authorization code flow with PKCE)."""
    params = {
        "client_id": settings.spotify_client_id,
        "response_type": "code",
        "redirect_uri": settings.spotify_redirect_uri,
        "state": state,
        "scope": " ".join(scopes),
        "code_challenge": code_challenge,
        "code_challenge_method": "S256",
    }
    params.update(extra_params or {})
    return f"{settings.spotify_accounts_url}/authorize?{urlencode(params)}"


def token_request(
    settings: Settings, form: Mapping[str, str], http: httpx.Client
) -> httpx.Request:
    """A POST /api/token request carrying `form` plus the client's credentials."""
    form = dict(form)
    headers = {"Accept": "application/json"}
    secret = settings.spotify_client_secret
    if secret is not None and secret.get_secret_value():
        raw = f"{settings.spotify_client_id}:{secret.get_secret_value()}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(raw).decode("ascii")
    else:
        # PKCE public client: identified by client_id in the form, no secret.
        form["client_id"] = settings.spotify_client_id
    return http.build_request(
        "POST", f"{settings.spotify_accounts_url}/api/token", data=form, headers=headers
    )


def refresh_form(refresh_token: str) -> dict[str, str]:
    return {"grant_type": "refresh_token", "refresh_token": refresh_token}


def code_form(settings: Settings, code: str, code_verifier: str | None) -> dict[str, str]:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": settings.spotify_redirect_uri,
    }
    if code_verifier:
        form["code_verifier"] = code_verifier
    return form


def parse_token_response(
    response: httpx.Response, *, user_id: str | None = None, secrets_sent: Iterable[str] = ()
) -> TokenResponse:
    """Turn an /api/token answer into a TokenResponse or an error naming the user.

    `secrets_sent` (the code or refresh token of the request) are redacted from any error text,
    because an accounts server may echo what it was sent.
    """
    status = response.status_code
    body = _json_or_none(response)
    if status == 200 and isinstance(body, dict):
        try:
            return TokenResponse(
                access_token=_required_str(body, "access_token"),
                refresh_token=body.get("refresh_token") or None,
                expires_in=int(body.get("expires_in", 3600)),
                scope=str(body.get("scope") or ""),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise AuthorizationError(
                user_id, TOKEN_ENDPOINT, status, f"token response lacks a field: {exc}"
            ) from None
    error, description = _oauth_error(body)
    message = redact(f"{error}: {description}" if description else error, secrets_sent)
    if status == 400 and error == "invalid_grant":
        raise InvalidGrantError(user_id, TOKEN_ENDPOINT, status, message)
    if status == 429:
        raise RateLimitDeferred(
            user_id, TOKEN_ENDPOINT, status, "accounts service rate limited",
            retry_after_s=retry_after_seconds(response),
        )
    if status >= 500:
        raise SpotifyServerError(user_id, TOKEN_ENDPOINT, status, message)
    raise AuthorizationError(user_id, TOKEN_ENDPOINT, status, message)


def exchange_code(
    settings: Settings,
    code: str,
    code_verifier: str | None,
    *,
    http: httpx.Client | None = None,
) -> TokenResponse:
    """Trade an authorization code (+ PKCE verifier) for access and refresh tokens; one attempt."""
    form = code_form(settings, code, code_verifier)
    return _post_once(settings, form, http, [code, code_verifier or ""])


def refresh_access_token(
    settings: Settings,
    refresh_token: str,
    *,
    http: httpx.Client | None = None,
    user_id: str | None = None,
) -> TokenResponse:
    """A new access token for `refresh_token`; one attempt (SpotifyClient adds the retries)."""
    return _post_once(settings, refresh_form(refresh_token), http, [refresh_token], user_id)


def _post_once(
    settings: Settings,
    form: Mapping[str, str],
    http: httpx.Client | None,
    secrets_sent: list[str],
    user_id: str | None = None,
) -> TokenResponse:
    own = http is None
    client = http or httpx.Client(timeout=settings.http_timeout_s)
    try:
        try:
            response = client.send(token_request(settings, form, client))
        except httpx.TransportError as exc:
            raise SpotifyServerError(
                user_id, TOKEN_ENDPOINT, None, f"{type(exc).__name__}: {exc}"
            ) from None
        return parse_token_response(response, user_id=user_id, secrets_sent=secrets_sent)
    finally:
        if own:
            client.close()


def retry_after_seconds(response: httpx.Response, default: float = 1.0) -> float:
    """Retry-After in seconds (Spotify sends an integer); missing or unparsable -> `default`."""
    value = response.headers.get("Retry-After")
    try:
        seconds = float(value) if value is not None else default
    except ValueError:
        return default
    return max(seconds, 0.0)


def redact(text: str, secrets_sent: Iterable[str]) -> str:
    """`text` with every secret of at least 6 characters replaced by <redacted>."""
    for secret in secrets_sent:
        if secret and len(secret) >= 6:
            text = text.replace(secret, "<redacted>")
    return text


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return None


def _required_str(body: Mapping[str, Any], key: str) -> str:
    value = body[key]
    if not isinstance(value, str) or not value:
        raise ValueError(key)
    return value


def _oauth_error(body: Any) -> tuple[str, str]:
    """(error, description) of an OAuth error body, or a generic pair for anything else."""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, str):
            return error, str(body.get("error_description") or "")[:200]
        if isinstance(error, dict):  # Web-API style {"error": {"status", "message"}}
            return "error", str(error.get("message") or "")[:200]
    return "unexpected token endpoint answer", ""
