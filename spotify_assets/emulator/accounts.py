"""The emulated Spotify accounts service: `/authorize` (authorization code + PKCE) and `/api/token`.

The grants, codes and tokens it hands out are `tokens.py`'s (`Accounts`, on the emulator's
state).
"""

from __future__ import annotations

import base64
import binascii
import html
from typing import TYPE_CHECKING
from urllib.parse import urlencode, urlparse

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from spotify_assets.emulator.faults import json_response, oauth_error
from spotify_assets.emulator.tokens import (
    KNOWN_CLIENT_IDS,
    OAuthError,
    parse_form,
)

if TYPE_CHECKING:
    from spotify_assets.emulator.state import EmulatorState

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
