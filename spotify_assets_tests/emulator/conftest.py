"""Helpers for the emulator tests: log a demo user in over real HTTP (PKCE) and call the API."""

from __future__ import annotations

import base64
import hashlib
import secrets
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlparse

import httpx

from spotify_assets.emulator.server import EmulatorHandle
from spotify_assets.lib.settings import EMULATOR_CLIENT_ID

REDIRECT_URI = "http://127.0.0.1:8888/callback"
ALL_SCOPES = (
    "user-read-recently-played user-top-read user-follow-read user-read-private "
    "playlist-modify-private playlist-modify-public playlist-read-private"
)
# A fixed end for worlds built inside tests, so expectations do not move with the date.
FIXED_END = datetime(2026, 3, 1, 12, tzinfo=UTC)


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def authorize_code(
    handle: EmulatorHandle, user_id: str, challenge: str, scope: str = ALL_SCOPES
) -> str:
    response = httpx.get(
        f"{handle.base_url}/authorize",
        params={
            "client_id": EMULATOR_CLIENT_ID,
            "response_type": "code",
            "redirect_uri": REDIRECT_URI,
            "state": "s1",
            "scope": scope,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "emulator_user": user_id,
        },
    )
    assert response.status_code == 302, response.text
    query = parse_qs(urlparse(response.headers["location"]).query)
    assert query["state"] == ["s1"]
    return query["code"][0]


def login(handle: EmulatorHandle, user_id: str, scope: str = ALL_SCOPES) -> dict[str, object]:
    """Run the authorization-code + PKCE flow; returns the token response body."""
    verifier, challenge = pkce_pair()
    code = authorize_code(handle, user_id, challenge, scope)
    response = httpx.post(
        f"{handle.base_url}/api/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "client_id": EMULATOR_CLIENT_ID,
            "code_verifier": verifier,
        },
    )
    assert response.status_code == 200, response.text
    return response.json()


def api_client(handle: EmulatorHandle, user_id: str, scope: str = ALL_SCOPES) -> httpx.Client:
    """An httpx client for /v1 with a fresh bearer token of the user."""
    token = login(handle, user_id, scope)["access_token"]
    return httpx.Client(
        base_url=handle.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
