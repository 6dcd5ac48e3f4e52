"""SpotifyClient: the one Web API client, for the emulator and for Spotify alike.

Per-user calls take the user id first; the client gets each user's access token by refreshing
the refresh token from the TokenStore, caches it until shortly before expiry, and saves a
rotated refresh token at once (the old one may be dead afterwards). Retries, the app-wide rate
gate and the concurrency bound live in `transport.Transport`; page checks in `paging`.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol, TypeVar

import httpx
from pydantic import BaseModel

from spotify_assets.lib.pseudonyms import who
from spotify_assets.lib.settings import Settings
from spotify_assets.lib.spotify import auth
from spotify_assets.lib.spotify.catalog import CatalogEndpoints
from spotify_assets.lib.spotify.errors import (
    EndpointRemovedError,
    InvalidGrantError,
    MalformedResponseError,
    NotFoundError,
    ReauthorizationRequired,
    SpotifyError,
)
from spotify_assets.lib.spotify.library import LibraryEndpoints
from spotify_assets.lib.spotify.listener import ListenerEndpoints
from spotify_assets.lib.spotify.paging import MAX_PAGES, describe_problem, parse_offset_page
from spotify_assets.lib.spotify.search import SearchEndpoints
from spotify_assets.lib.spotify.transport import (
    OnResponse,
    RetryPolicy,
    Transport,
    error_message,
    log,
    request_label,
)

M = TypeVar("M", bound=BaseModel)
R = TypeVar("R")

# Templates that answer 403 for development-mode apps since February 2026.
REMOVED_IN_DEV_MODE = frozenset({"GET /v1/browse/new-releases"})
# Refresh this long before the access token expires, so a request never carries a dead one.
TOKEN_EXPIRY_MARGIN_S = 60.0


class TokenStore(Protocol):
    """Where refresh tokens live (the users registry implements it)."""

    def get_refresh_token(self, user_id: str) -> str: ...

    def save_refresh_token(self, user_id: str, token: str) -> None: ...

    def mark_needs_reauth(self, user_id: str, reason: str) -> None: ...


@dataclass
class _AccessToken:
    value: str
    expires_at: float  # on the client's clock

    def __repr__(self) -> str:
        return f"_AccessToken(<hidden>, expires_at={self.expires_at:.0f})"


class SpotifyClient(ListenerEndpoints, CatalogEndpoints, LibraryEndpoints, SearchEndpoints):
    """Typed, retrying, rate-limit-aware Spotify Web API client shared by all users of one app.

    The endpoints come from mixins: the listener's profile, plays, top items and follows from
    `ListenerEndpoints` (`listener.py`); artists, albums and tracks from `CatalogEndpoints`
    (`catalog.py`); playlist and library calls (create, add, read items, list, library
    contains) from `LibraryEndpoints` (`library.py`); the track search from `SearchEndpoints`
    (`search.py`). This file holds what they share: paging, requests, tokens.

    Thread-safe: one instance can serve a ThreadPoolExecutor fanning out over users.
    `sleep`, `clock` and `rng` are injectable so tests never wait and jitter is reproducible.
    """

    def __init__(
        self,
        settings: Settings,
        tokens: TokenStore,
        *,
        on_response: OnResponse | None = None,
        sleep: Callable[[float], None] = time.sleep,
        max_concurrency: int = 4,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._settings = settings
        self._tokens = tokens
        self._api_base = f"{settings.spotify_api_url}/v1"
        self._clock = clock
        self._http = httpx.Client(
            timeout=httpx.Timeout(settings.http_timeout_s),
            follow_redirects=False,
            headers={"Accept": "application/json", "User-Agent": "spotify_assets/0.1"},
            limits=httpx.Limits(max_connections=max_concurrency + 2),
        )
        self._transport = Transport(
            self._http,
            max_retry_after_s=settings.max_retry_after_s,
            sleep=sleep,
            clock=clock,
            rng=rng or random.Random(),
            policy=retry or RetryPolicy(),
            max_concurrency=max_concurrency,
            on_response=on_response,
        )
        self._access: dict[str, _AccessToken] = {}
        self._user_locks: dict[str, threading.Lock] = {}
        self._locks_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SpotifyClient(api={self._api_base!r}, cached_users={len(self._access)})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> SpotifyClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---- paging -----------------------------------------------------------------------------

    def _offset_items(
        self,
        user_id: str,
        endpoint: str,
        path: str,
        params: dict[str, Any],
        limit: int,
        model: type[M],
        unwrap: str | None = None,
    ) -> list[M]:
        """Every item of an offset-paged endpoint, each once (deduplicated by id)."""
        items: list[M] = []
        seen: set[str] = set()
        offset = 0
        for _ in range(MAX_PAGES):
            page = self._get(
                user_id, endpoint, path, {**params, "limit": limit, "offset": offset},
                partial(parse_offset_page, model=model, offset=offset, limit=limit,
                        unwrap=unwrap),
            )
            fresh = 0
            for item in page.items:
                key = getattr(item, "id", None)
                if key is not None and key in seen:
                    continue
                if key is not None:
                    seen.add(key)
                items.append(item)
                fresh += 1
            # Offsets are computed here, never taken from `next`: a server-supplied URL could
            # point at another host, and we must not send the user's token there.
            offset += len(page.items)
            if page.next is None or (page.total is not None and offset >= page.total):
                return items
            if fresh == 0:
                raise MalformedResponseError(
                    user_id, endpoint, 200,
                    f"page at offset {offset - len(page.items)} repeats items already fetched",
                )
        raise MalformedResponseError(user_id, endpoint, 200, f"more than {MAX_PAGES} pages")

    # ---- requests ---------------------------------------------------------------------------

    def _get(
        self,
        user_id: str,
        endpoint: str,
        path: str,
        params: dict[str, Any],
        parse: Callable[[Any], R],
    ) -> R:
        return self._get_answer(user_id, endpoint, path, params, parse)[0]

    def _get_answer(
        self,
        user_id: str,
        endpoint: str,
        path: str,
        params: dict[str, Any],
        parse: Callable[[Any], R],
    ) -> tuple[R, httpx.Response]:
        """GET and parse; a body that fails to parse is fetched once more, then rejected.

        A truncated or garbled body is usually a transient network or server fault, so one
        re-fetch recovers most of them without hiding a persistent problem.
        """
        response = self._call(user_id, "GET", endpoint, path, params=params)
        try:
            return self._parse_once(response, parse), response
        except ValueError as exc:
            log.warning("spotify %s for %s: bad body (%s); fetching once more",
                        endpoint, who(user_id), describe_problem(exc))
        response = self._call(user_id, "GET", endpoint, path, params=params)
        return self._parse(user_id, endpoint, response, parse), response

    def _parse(
        self, user_id: str, endpoint: str, response: httpx.Response, parse: Callable[[Any], R]
    ) -> R:
        try:
            return self._parse_once(response, parse)
        except ValueError as exc:
            raise MalformedResponseError(
                user_id, endpoint, response.status_code, describe_problem(exc)
            ) from None

    @staticmethod
    def _parse_once(response: httpx.Response, parse: Callable[[Any], R]) -> R:
        # json.JSONDecodeError, UnicodeDecodeError, pydantic's ValidationError and PageProblem
        # are all ValueErrors.
        return parse(json.loads(response.content))

    def _call(
        self,
        user_id: str,
        method: str,
        endpoint: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
    ) -> httpx.Response:
        """One Web API request with a valid access token; raises for any non-2xx answer (and
        tells a receipt's recording how it failed)."""
        url = self._api_base + path
        build = partial(self._build, method, url, params, json_body)
        try:
            return self._send_authorized(user_id, endpoint, build, idempotent=method == "GET")
        except SpotifyError as exc:
            from spotify_assets.lib.raw import note_failure

            request = self._http.build_request(method, url, params=params)
            note_failure(request_label(str(request.url)), type(exc).__name__, exc.endpoint,
                         exc.status)
            raise

    def _send_authorized(
        self,
        user_id: str,
        endpoint: str,
        build: Callable[[str], httpx.Request],
        *,
        idempotent: bool,
    ) -> httpx.Response:
        """Send the request `build` makes with the user's access token; a 401 refreshes the
        token once, a second one means the listener must log in again."""
        token = self._access_token(user_id)
        for attempt in (1, 2):
            response = self._transport.send(
                user_id, endpoint, partial(build, token), gate=self._transport.api_gate,
                land=True, idempotent=idempotent,
            )
            if response.status_code != 401:
                return self._raise_for_status(user_id, endpoint, response, token)
            if attempt == 1:
                log.info("spotify %s for %s: 401, refreshing the access token once",
                         endpoint, who(user_id))
                token = self._access_token(user_id, stale=token)
        reason = "access token rejected (HTTP 401) even right after a refresh"
        self._tokens.mark_needs_reauth(user_id, reason)
        raise ReauthorizationRequired(user_id, endpoint, 401, reason)

    def _build(
        self, method: str, url: str, params: dict[str, Any] | None, json_body: Any, token: str
    ) -> httpx.Request:
        return self._http.build_request(
            method, url, params=params, json=json_body,
            headers={"Authorization": f"Bearer {token}"},
        )

    def _raise_for_status(
        self, user_id: str, endpoint: str, response: httpx.Response, token: str
    ) -> httpx.Response:
        status = response.status_code
        if status < 400:
            return response
        message = error_message(response, (token,))
        if status == 403 and endpoint in REMOVED_IN_DEV_MODE:
            raise EndpointRemovedError(
                user_id, endpoint, status,
                f"{message}: removed for development-mode apps (needs extended quota)",
            )
        if status == 404:
            raise NotFoundError(user_id, endpoint, status, message)
        raise SpotifyError(user_id, endpoint, status, message)

    # ---- tokens -----------------------------------------------------------------------------

    def _access_token(self, user_id: str, stale: str | None = None) -> str:
        """A valid access token for the user; refreshed when missing, expiring or `stale`."""
        with self._user_lock(user_id):
            cached = self._access.get(user_id)
            if (cached is not None and cached.value != stale
                    and cached.expires_at - TOKEN_EXPIRY_MARGIN_S > self._clock()):
                return cached.value
            self._access.pop(user_id, None)
            token = self._refresh(user_id)
            self._access[user_id] = _AccessToken(token.access_token,
                                                 self._clock() + token.expires_in)
            return token.access_token

    def _refresh(self, user_id: str) -> auth.TokenResponse:
        # Runs under the user's lock: two concurrent refreshes with the same refresh token
        # would race a rotation, and the loser would see invalid_grant.
        refresh_token = self._tokens.get_refresh_token(user_id)
        build = partial(auth.token_request, self._settings, auth.refresh_form(refresh_token),
                        self._http)
        response = self._transport.send(
            user_id, auth.TOKEN_ENDPOINT, build, gate=self._transport.accounts_gate,
            land=False, idempotent=True,
        )
        try:
            token = auth.parse_token_response(
                response, user_id=user_id, secrets_sent=(refresh_token,)
            )
        except InvalidGrantError as exc:
            reason = f"refresh token rejected ({exc.message})"
            self._tokens.mark_needs_reauth(user_id, reason)
            raise ReauthorizationRequired(
                user_id, auth.TOKEN_ENDPOINT, exc.status, f"{reason}; the user must log in again"
            ) from None
        if token.refresh_token and token.refresh_token != refresh_token:
            # Rotation: the old refresh token may already be dead, so persist before anything
            # else can fail.
            self._tokens.save_refresh_token(user_id, token.refresh_token)
        return token

    def _user_lock(self, user_id: str) -> threading.Lock:
        with self._locks_lock:
            return self._user_locks.setdefault(user_id, threading.Lock())

