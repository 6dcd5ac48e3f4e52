"""The emulator's ASGI middleware: every answer's `Date` from the emulator clock, Spotify's
trailing-slash leniency, and the switchable faults (`faults.py`'s rules) applied to requests.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from email.utils import format_datetime
from http import HTTPStatus
from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from spotify_assets.emulator.faults import (
    QUOTA_BODY,
    FaultRule,
    json_bytes,
    json_response,
    oauth_error,
    spotify_error,
)
from spotify_assets.emulator.state import EmulatorState
from spotify_assets.emulator.tokens import parse_form


def identify_user(state: EmulatorState, scope: Scope, body: bytes) -> str | None:
    """Best-effort: the demo user a request is made for (fault rules may target one user)."""
    path = scope["path"]
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    if path.startswith("/v1/"):
        header = headers.get("authorization", "")
        if header[:7].lower() == "bearer ":
            token = state.accounts.lookup(header[7:].strip())
            return token.user_id if token else None
        return None
    if path == "/api/token":
        form = parse_form(body)
        if form.get("refresh_token"):
            return state.accounts.user_of_refresh(form["refresh_token"])
        if form.get("code"):
            return state.accounts.user_of_code(form["code"])
        return None
    if path == "/authorize":
        query = parse_form(scope.get("query_string", b""))
        return query.get("emulator_user")
    return None


class WebApiTrailingSlash:
    """Spotify answers `/v1/me/` as `/v1/me` (spotipy calls it that way): strip one trailing
    slash from `/v1/...` paths before routing. MusicBrainz paths keep theirs (it means search)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and path.startswith("/v1/") and path.endswith("/"):
            trimmed = path.rstrip("/")
            scope = {**scope, "path": trimmed, "raw_path": trimmed.encode()}
        await self.app(scope, receive, send)


class ClockDateHeader:
    """Every answer's `Date` header is the emulator clock's now, as a server's is its own: a
    client comparing Spotify's time with `played_at` must see the same clock (uvicorn's own
    Date header is switched off in server.py)."""

    def __init__(self, app: Any, state: EmulatorState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def dated(message: Any) -> None:
            if message["type"] == "http.response.start":
                date = format_datetime(self.state.clock.now(), usegmt=True).encode()
                headers = [h for h in message.get("headers", []) if h[0].lower() != b"date"]
                message = {**message, "headers": [*headers, (b"date", date)]}
            await send(message)

        await self.app(scope, receive, dated)


def route_template(routes: list[BaseRoute], scope: Scope) -> str:
    """"METHOD /path/{param}" of the route serving this request (the raw path if none)."""
    for route in routes:
        match, _ = route.matches(scope)
        if match is not Match.NONE:
            path = getattr(route, "path", scope["path"])
            return f"{scope['method']} {path}"
    return f"{scope['method']} {scope['path']}"


def _halve_items(payload: Any) -> bool:
    """Cut the first `items` list found (top level or one level down) to half; True if cut."""
    if not isinstance(payload, dict):
        return False
    if isinstance(payload.get("items"), list):
        payload["items"] = payload["items"][: len(payload["items"]) // 2]
        return True
    return any(_halve_items(value) for value in payload.values() if isinstance(value, dict))


class FaultMiddleware:
    """Counts requests per endpoint template and applies the fault rules (pure ASGI)."""

    def __init__(
        self,
        app: ASGIApp,
        state: EmulatorState,
        routes: list[BaseRoute],
        identify: Callable[[EmulatorState, Scope, bytes], str | None],
    ) -> None:
        self.app = app
        self.state = state
        self.routes = routes
        self.identify = identify

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_emulator"):
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        replay = _replaying(body, receive)
        self.state.count_request(route_template(self.routes, scope))
        user = self.identify(self.state, scope, body)
        decision = self.state.faults.decide(scope["path"], user)
        if decision is None:
            await self.app(scope, replay, send)
            return
        rule = decision.rule
        if rule.kind == "slow":
            await self.state.sleep(rule.delay_s)
            await self.app(scope, replay, send)
        elif rule.kind in ("malformed", "truncated"):
            await self._rewrite(scope, replay, send, rule.kind)
        elif rule.kind == "lost_answer":
            await self.app(scope, replay, _discard)
            await _fault_response(rule, None)(scope, replay, send)
        else:
            await _fault_response(rule, decision.retry_after)(scope, replay, send)

    async def _rewrite(self, scope: Scope, receive: Receive, send: Send, kind: str) -> None:
        captured: list[Message] = []

        async def capture(message: Message) -> None:
            captured.append(message)

        await self.app(scope, receive, capture)
        start = next(m for m in captured if m["type"] == "http.response.start")
        body = b"".join(m.get("body", b"") for m in captured if m["type"] == "http.response.body")
        if start["status"] == 200:
            body = _malform(body) if kind == "malformed" else _truncate(body)
        headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": start["status"], "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _malform(body: bytes) -> bytes:
    return body[: len(body) // 2] if len(body) > 1 else b"{"


def _truncate(body: bytes) -> bytes:
    try:
        payload = json.loads(body)
    except ValueError:
        return body
    return json_bytes(payload) if _halve_items(payload) else body


def _fault_response(rule: FaultRule, window_wait: int | None) -> Response:
    if rule.kind == "quota":
        headers = {"Retry-After": str(rule.retry_after)} if rule.retry_after is not None else None
        return json_response(QUOTA_BODY, 429, headers)
    if rule.kind in ("rate_limit", "window"):
        wait = window_wait if rule.kind == "window" else rule.retry_after
        retry = str(wait if wait is not None else 1)
        return spotify_error(429, "API rate limit exceeded", {"Retry-After": retry})
    if rule.kind == "invalid_grant":
        return oauth_error("invalid_grant", "Refresh token revoked")
    try:
        message = HTTPStatus(rule.status).phrase
    except ValueError:
        message = "Server error"
    return spotify_error(rule.status, message)


async def _discard(message: Message) -> None:
    return None


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replaying(body: bytes, receive: Receive) -> Callable[[], Awaitable[Message]]:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
